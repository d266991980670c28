import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type BrowserContext, chromium, type Page} from 'playwright-core'

import {requireTool} from '../helpers/tools.js'

/** Debian's chromium, as CI installs it (.ci/setup-debian). */
export const CHROMIUM = '/usr/bin/chromium'

export interface OpenedPage {
  page: Page
  /** Console errors and uncaught page errors, in order. */
  errors: string[]
  /** Every request that was not file:// (all blocked). */
  blocked: string[]
  close(): Promise<void>
}

/**
 * Opens a local file in headless Chromium with a fresh profile and every non-file request blocked, so a
 * page that loads proves it needs no network.
 */
export async function openFile(file: string, viewport = {height: 900, width: 1280}): Promise<OpenedPage> {
  requireTool(CHROMIUM)
  const profile = mkdtempSync(join(tmpdir(), 'billwatch-chromium-'))
  let context: BrowserContext | undefined
  try {
    context = await chromium.launchPersistentContext(profile, {
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      executablePath: CHROMIUM,
      headless: true,
      viewport,
    })
  } catch (error) {
    rmSync(profile, {force: true, recursive: true})
    throw error
  }
  const errors: string[] = []
  const blocked: string[] = []
  await context.route('**/*', (route) => {
    const url = route.request().url()
    if (url.startsWith('file://')) return route.continue()
    blocked.push(url)
    return route.abort('blockedbyclient')
  })
  const page = context.pages()[0] ?? (await context.newPage())
  page.on('console', (message) => message.type() === 'error' && errors.push(`console: ${message.text()}`))
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`))
  await page.goto(`file://${file}`)
  return {
    blocked,
    async close() {
      await context.close()
      rmSync(profile, {force: true, recursive: true})
    },
    errors,
    page,
  }
}
