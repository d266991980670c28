import dgram from 'node:dgram'
import {isIPv6} from 'node:net'

import {BillwatchError} from '../errors.js'
import {errnoReason} from '../util/files.js'

/**
 * A UDP socket connected to one server: a fresh ephemeral source port chosen by the kernel (Linux
 * randomises it within ip_local_port_range, RFC 9109), and datagrams from any other address or
 * port are dropped by the kernel before they reach us. Incoming datagrams are queued so a caller
 * can wait for the next one with a deadline.
 */
export class ConnectedSocket {
  private readonly queue: {bytes: Uint8Array; address: string; port: number}[] = []
  private waiter: (() => void) | undefined
  private failure: Error | undefined
  /** Set after a send to a port nobody listens on (ICMP port unreachable). */
  refused = false

  private constructor(
    private readonly socket: dgram.Socket,
    readonly address: string,
    readonly port: number,
  ) {
    socket.on('message', (bytes, remote) => {
      this.queue.push({
        bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        address: remote.address,
        port: remote.port,
      })
      this.wake()
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A connected UDP socket reports ICMP port unreachable as ECONNREFUSED: the host answers, NTP does not.
      if (error.code === 'ECONNREFUSED') this.refused = true
      else this.failure = error
      this.wake()
    })
  }

  static async open(address: string, port: number): Promise<ConnectedSocket> {
    const socket = dgram.createSocket({type: isIPv6(address) ? 'udp6' : 'udp4'})
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        socket.bind(0, () => {
          // A failed connect (EACCES for a broadcast address) comes to this callback, not as an 'error' event.
          socket.connect(port, address, (error?: Error) => {
            socket.off('error', reject)
            if (error) reject(error)
            else resolve()
          })
        })
      })
    } catch (error) {
      socket.close()
      throw new BillwatchError('E_NETWORK', `cannot open a UDP socket to ${address}:${port}: ${errnoReason(error)}`, {
        cause: error,
      })
    }
    return new ConnectedSocket(socket, address, port)
  }

  /** The local port the kernel picked. */
  get sourcePort(): number {
    return this.socket.address().port
  }

  async send(bytes: Uint8Array): Promise<void> {
    this.throwIfFailed()
    await new Promise<void>((resolve, reject) =>
      this.socket.send(bytes, (error) => (error ? reject(error) : resolve())),
    )
  }

  /** The next datagram, or undefined once `deadline` (ms since epoch, wall clock) passes. */
  async next(deadline: number): Promise<{bytes: Uint8Array; address: string; port: number} | undefined> {
    for (;;) {
      this.throwIfFailed()
      const item = this.queue.shift()
      if (item) return item
      const remaining = deadline - Date.now()
      if (remaining <= 0) return undefined
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiter = undefined
          resolve()
        }, remaining)
        this.waiter = () => {
          clearTimeout(timer)
          this.waiter = undefined
          resolve()
        }
      })
    }
  }

  close(): void {
    this.socket.close()
  }

  private wake(): void {
    this.waiter?.()
  }

  private throwIfFailed(): void {
    if (this.failure) {
      throw new BillwatchError('E_NETWORK', `UDP to ${this.address}:${this.port} failed: ${this.failure.message}`, {
        cause: this.failure,
      })
    }
  }
}
