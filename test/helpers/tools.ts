/**
 * The end-to-end tests drive real programs (chronyd, ntpsec, tcpdump, tshark, softflowd, nfdump, git,
 * etckeeper, Chromium) and some need root (network namespaces, addresses on lo). A helper that starts one
 * calls `requireTool` / `requireRoot` first, so a missing one is named instead of failing obscurely:
 * - under `npm test` (CI, BILLWATCH_TEST_TOOLS=required) it is a failure: CI must not pass by skipping;
 * - under `npm run test:unit` (BILLWATCH_TEST_TOOLS=none) every such test is skipped, present or not, so the
 *   unit tier behaves the same on every machine;
 * - elsewhere (`npm run test:dev`, one file by hand) the running test is skipped with a note naming the tool
 *   and the Debian package that has it.
 * A hook that starts a daemon for a whole file has no running test to skip: it throws the same sentence. Such
 * files are listed as end-to-end in test/vitest.config.ts, so the unit tier never loads them.
 */
import {accessSync, constants, existsSync} from 'node:fs'
import {delimiter, isAbsolute, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {getCurrentTest} from 'vitest/suite'

/** The Debian package each program comes from, as .ci/setup-debian installs it. */
const PACKAGES: Record<string, string> = {
  chromium: 'chromium',
  chronyd: 'chrony',
  etckeeper: 'etckeeper',
  git: 'git',
  ip: 'iproute2',
  nfcapd: 'nfdump',
  nfdump: 'nfdump',
  ntpd: 'ntpsec (unpacked into .cache/ntpsec by .ci/setup-debian)',
  setpriv: 'util-linux',
  softflowd: 'softflowd',
  tcpdump: 'tcpdump',
  tshark: 'tshark',
  unshare: 'util-linux',
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Where `tool` is: itself when it is a path, else the first executable of that name on PATH. */
export function findTool(tool: string): string | undefined {
  if (isAbsolute(tool)) return executable(tool) ? tool : undefined
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, tool))) return join(dir, tool)
  }
  return undefined
}

/** Whether a missing tool fails the test (npm test, CI) rather than skipping it. */
export function toolsRequired(): boolean {
  return process.env.BILLWATCH_TEST_TOOLS === 'required'
}

function missing(reason: string): never {
  const test = getCurrentTest()
  if (!toolsRequired() && test?.context) test.context.skip(reason)
  throw new Error(toolsRequired() ? `${reason} (npm test requires it; .ci/setup-debian installs it)` : reason)
}

function unitTier(): boolean {
  return process.env.BILLWATCH_TEST_TOOLS === 'none'
}

/** The path of `tool`; when it is missing, skips the running test (or fails it under npm test) naming it. */
export function requireTool(tool: string): string {
  const found = unitTier() ? undefined : findTool(tool)
  if (found) return found
  const name = tool.split('/').pop() ?? tool
  const from = PACKAGES[name]
  const needs = `this test needs ${isAbsolute(tool) ? tool : `${tool} on PATH`}${from ? ` (Debian package ${from})` : ''}`
  missing(unitTier() ? `${needs}: end-to-end, not run by test:unit` : `${needs}, which is missing`)
}

/** Each of `tools`, as requireTool. */
export function requireTools(...tools: string[]): string[] {
  return tools.map((tool) => requireTool(tool))
}

/**
 * A test that spawns the built or TypeScript CLI (a second or more of start-up each) runs in the full suite,
 * not in the unit tier, which keeps to what runs in-process.
 */
export function skipInUnitTier(reason: string): void {
  if (unitTier()) missing(`this test ${reason}: end-to-end, not run by test:unit`)
}

/** Network namespaces, addresses on lo and packet capture need root; says so when the test runs as another user. */
export function requireRoot(why: string): void {
  if (process.getuid?.() === 0 && !unitTier()) return
  missing(
    `this test needs root to ${why}${unitTier() ? ': end-to-end, not run by test:unit' : `; it runs as uid ${process.getuid?.()}`}`,
  )
}

/** The native pcap scanner as `npm run build:native` builds it (src/pcap/native.ts loads it from there). */
const NATIVE_SCANNER = fileURLToPath(new URL('../../src/pcap/native/build/Release/pcap_scan.node', import.meta.url))

/**
 * The pcap scanners a test compares, as values of BILLWATCH_PCAP_NATIVE: the JavaScript one ('0') always, the
 * native one ('1') when it is built (`npm run build:native`, which needs g++, make and python3). Under `npm test`
 * a missing native scanner fails the test; `npm run test:unit` leaves the native one out on every machine.
 */
export function pcapScanners(): ('0' | '1')[] {
  if (unitTier()) return ['0']
  if (existsSync(NATIVE_SCANNER)) return ['1', '0']
  if (toolsRequired())
    throw new Error(
      'this test needs the native pcap scanner (npm run build:native, with g++, make and python3), which is missing' +
        ' (npm test requires it; .ci/setup-debian installs them)',
    )
  return ['0']
}
