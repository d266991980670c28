{
  "targets": [
    {
      "target_name": "pcap_scan",
      "sources": ["scan.c", "vpc.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-pthread"],
      "libraries": ["-pthread"]
    }
  ]
}
