/**
 * `billwatch report` end to end: the real pipeline on the samples writes the HTML, and Debian's chromium
 * (headless, fresh profile, every non-file request blocked) opens it and proves the charts drew what the
 * embedded evidence says, the log toggle works, and nothing errs.
 */
import {copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {commitAt, makeEtcRepo} from '../correlate/repo.js'
import {ROOT, runCli, SAMPLES, tempDir} from '../helpers/cli.js'
import {type OpenedPage, openFile} from './browser.js'

const USAGE_REPORT = join(SAMPLES, 'billing/usage-report-ec2-2013-06-01_2014-06-01.csv')
const CAPTURE = join(SAMPLES, 'captures', 'ntp-server.pcap')
const SCREENSHOT = join(ROOT, 'test/out/report.png')

interface ReportJson {
  out: string
  bytes: number
  charts: {id: string; series: number; markers: number}[]
  missing: {evidence: string; why: string; how: string}[]
}

/** What a drawn chart holds, read from the live ECharts instance and its canvas. */
interface DrawnChart {
  series: {
    name: string
    type: string
    points: number
    markLine: unknown[]
    markPoint: {name: string; coord?: unknown[]}[]
  }[]
  yAxisType: string
  xAxisType: string
  /** Canvas pixels that are not the white background. */
  inkPixels: number
  pixels: number
}

// Page functions run in the browser (serialised: no closures); the test compiles without DOM types,
// so the page's globals are reached through an untyped globalThis.
function drawn(page: OpenedPage['page'], id: string): Promise<DrawnChart> {
  return page.evaluate((chartId: string) => {
    const chart = (globalThis as any).billwatchReport.charts[chartId]
    const option = chart.getOption()
    const canvas = (globalThis as any).document.querySelector(`[data-chart="${chartId}"] canvas`)
    const {data} = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height)
    let ink = 0
    for (let i = 0; i < data.length; i += 4)
      if (data[i + 3]! > 0 && (data[i]! < 240 || data[i + 1]! < 240 || data[i + 2]! < 240)) ink++
    return {
      inkPixels: ink,
      pixels: canvas.width * canvas.height,
      series: option.series.map((s: any) => ({
        markLine: s.markLine?.data ?? [],
        markPoint: s.markPoint?.data ?? [],
        name: s.name,
        points: s.data.length,
        type: s.type,
      })),
      xAxisType: option.xAxis[0].type,
      yAxisType: option.yAxis[0].type,
    }
  }, id)
}

function evidenceIn(page: OpenedPage['page']): Promise<any> {
  return page.evaluate(() => JSON.parse((globalThis as any).document.querySelector('#billwatch-evidence').textContent))
}

const tmp = tempDir('billwatch-report-')
const ingestedStore = join(tmp.dir, 'ingested.duckdb')

beforeAll(async () => {
  const ingest = await runCli(['ingest', USAGE_REPORT, '--db', ingestedStore, '--json'])
  expect(ingest.code, ingest.stderr).toBe(0)
})

afterAll(() => tmp.cleanup())

/** A store holding only the ingested usage report (each run saves its evidence, so each test gets its own). */
function freshStore(name: string): string {
  const db = join(tmp.dir, `${name}.duckdb`)
  copyFileSync(ingestedStore, db)
  return db
}

function openReport(file: string): Promise<OpenedPage> {
  return openFile(file).then(async (opened) => {
    await opened.page.waitForFunction(() => (globalThis as any).billwatchReport?.ready === true, null, {
      timeout: 20_000,
    })
    return opened
  })
}

describe('billwatch report on the samples', () => {
  const repo = join(tmp.dir, 'etc')
  const out = join(tmp.dir, 'out/seed report.html')
  let json: ReportJson
  let opened: OpenedPage

  beforeAll(async () => {
    const db = freshStore('seed')
    makeEtcRepo(repo)
    mkdirSync(join(tmp.dir, 'out'))
    const report = await runCli(['report', '--db', db, '--repo', repo, '--pcap', CAPTURE, '--out', out, '--json'])
    expect(report.code, report.stderr).toBe(0)
    json = report.json()
    opened = await openReport(out)
  })

  afterAll(async () => {
    await opened?.close()
  })

  it('prints where the report is, its size, its charts and the missing evidence', () => {
    expect(json.out).toBe(out)
    expect(json.bytes).toBe(statSync(out).size)
    expect(json.charts.map((c) => c.id)).toEqual(['series', 'cumulative'])
    // No --probe was given: the probe is missing, and said to be.
    expect(json.missing.map((m) => m.evidence)).toEqual(['probe'])
    // Written atomically: no temp file left beside it.
    expect(readdirSync(join(tmp.dir, 'out'))).toEqual(['seed report.html'])
  })

  it('opens with no network: nothing outside the file was requested and nothing erred', () => {
    expect(opened.blocked).toEqual([])
    expect(opened.errors).toEqual([])
    const html = readFileSync(out, 'utf8')
    expect(html).not.toMatch(/<(?:script|link|img)[^>]+(?:src|href)=["']?https?:/i)
  })

  it('draws the daily series on a log axis with a marker at each step and the ranked change annotated', async () => {
    const evidence = await evidenceIn(opened.page)
    const chart = await drawn(opened.page, 'series')
    const {steps} = evidence.anomalies
    expect(chart.series).toHaveLength(1)
    expect(chart.series[0]!.points).toBe(evidence.anomalies.series.length)
    expect(chart.series[0]!.points).toBe(365)
    expect(chart.xAxisType).toBe('time')
    expect(chart.yAxisType).toBe('log')
    // The NTP pool server incident: egress stepped up on 2014-03-30, the day after "ntp installed" (2014-03-29 18:41
    // UTC).
    const stepDates = chart.series[0]!.markLine.map((m: any) => m.xAxis)
    expect(stepDates).toEqual(steps.map((s: any) => s.date))
    expect(stepDates).toContain('2014-03-30')
    const pins = chart.series[0]!.markPoint
    expect(pins).toHaveLength(
      evidence.correlation.steps.filter((s: any) => s.candidates.length > 0).length + evidence.anomalies.spikes.length,
    )
    const ntp = pins.find((p) => p.name.startsWith('ntp installed'))
    expect(ntp?.coord?.[0]).toBe('2014-03-29')
    const {markers, series} = json.charts.find((c) => c.id === 'series')!
    expect({markers, series}).toEqual({markers: stepDates.length + pins.length, series: chart.series.length})
    // Something is drawn: lines, labels and axes cover a real part of the canvas.
    expect(chart.inkPixels).toBeGreaterThan(chart.pixels * 0.01)
  })

  it('draws the cumulative traffic-by-client curve on a log query axis with the blocking thresholds', async () => {
    const evidence = await evidenceIn(opened.page)
    const chart = await drawn(opened.page, 'cumulative')
    const {cumulativeShare, thresholds} = evidence.capture.ntp
    expect(chart.xAxisType).toBe('log')
    expect(chart.series.map((s) => s.points)).toEqual([cumulativeShare.length, cumulativeShare.length])
    const marked = chart.series[0]!.markLine.map((m: any) => m.xAxis)
    const partialBlocks = thresholds
      .filter((t: any) => t.minQueries > 1 && t.blockedClients > 0)
      .map((t: any) => t.minQueries)
    expect(marked).toEqual(partialBlocks)
    expect(marked.length).toBeGreaterThan(0)
    expect(json.charts.find((c) => c.id === 'cumulative')).toMatchObject({markers: marked.length, series: 2})
    expect(chart.inkPixels).toBeGreaterThan(chart.pixels * 0.01)
  })

  it('switches the series between log and linear with the toggle, and redraws', async () => {
    const {page} = opened
    const canvasImage = () =>
      page.evaluate(() => (globalThis as any).document.querySelector('[data-chart="series"] canvas').toDataURL())
    const before = await canvasImage()
    await page.click('#log-toggle')
    expect((await drawn(page, 'series')).yAxisType).toBe('value')
    await expect.poll(canvasImage).not.toBe(before)
    expect(await page.textContent('#log-toggle')).toMatch(/linear/)
    await page.click('#log-toggle')
    expect((await drawn(page, 'series')).yAxisType).toBe('log')
    expect(opened.errors).toEqual([])
  })

  it('shows the tables, with the capture figures the pcap analysis measured and a note for what is missing', async () => {
    const {page} = opened
    const evidence = await evidenceIn(page)
    expect(await page.textContent('#steps-table')).toContain('2014-03-30')
    expect(await page.textContent('#candidates-2014-03-30 tbody tr:first-child')).toContain('ntp installed')
    expect(await page.locator('#thresholds-table tbody tr').count()).toBe(evidence.capture.ntp.thresholds.length)
    expect(await page.locator('#talkers-table tbody tr').count()).toBe(evidence.capture.ntp.topTalkers.length)
    expect(await page.textContent('#talkers-table tbody tr:first-child')).toContain(
      evidence.capture.ntp.topTalkers[0].address,
    )
    // Counts read like the rest of the report: the sample's 1,925 NTP replies, right-aligned.
    expect(await page.textContent('#ports-table tbody tr:first-child td:nth-child(3)')).toBe('1,925')
    expect(await page.getAttribute('#ports-table tbody tr:first-child td:nth-child(3)', 'class')).toBe('num')
    // The NTP pool server incident's "NTP is 99.6% of outbound" figure, as the capture measured it.
    expect(await page.textContent('#capture-overview')).toContain(
      `${(evidence.capture.ntp.shareOfOutbound * 100).toFixed(1)}%`,
    )
    const probeNote = page.locator('#probe .missing')
    expect(await probeNote.isVisible()).toBe(true)
    expect(await page.textContent('#missing')).toContain('probe')
    mkdirSync(join(ROOT, 'test/out'), {recursive: true})
    await page.screenshot({fullPage: true, path: SCREENSHOT})
    expect(existsSync(SCREENSHOT)).toBe(true)
  })
})

describe('billwatch report with less evidence', () => {
  it('says what is missing instead of drawing it, and keeps a hostile commit subject as text', async () => {
    const db = freshStore('partial')
    const repo = join(tmp.dir, 'etc-hostile')
    makeEtcRepo(repo)
    // A change inside the step's window whose subject tries to end the page's scripts.
    const hostile = '</script><script>document.title="pwned"</script><!-- <b>tuned sysctl</b>'
    commitAt(repo, '2014-03-27T10:00:00+00:00', hostile)
    const out = join(tmp.dir, 'partial.html')
    const report = await runCli(['report', '--db', db, '--repo', repo, '--out', out, '--json'])
    expect(report.code, report.stderr).toBe(0)
    const json: ReportJson = report.json()
    expect(json.charts.map((c) => c.id)).toEqual(['series'])
    expect(json.missing.map((m) => m.evidence).sort()).toEqual(['capture', 'probe'])

    const opened = await openReport(out)
    try {
      const {page} = opened
      expect(opened.errors).toEqual([])
      expect(opened.blocked).toEqual([])
      expect(await page.title()).toBe('billwatch report')
      expect(await page.locator('[data-chart="cumulative"]').count()).toBe(0)
      const captureWhy = json.missing.find((m) => m.evidence === 'capture')!.why
      expect(await page.locator('#capture .missing').textContent()).toContain(captureWhy)
      expect(await page.locator('#remedies .missing').isVisible()).toBe(true)
      expect(await page.textContent('#candidates-2014-03-30')).toContain(hostile)
      expect(await page.locator('#candidates-2014-03-30 b').count()).toBe(0)
      const evidence = await evidenceIn(page)
      expect(evidence.correlation.steps[0].candidates.map((c: any) => c.subject)).toContain(hostile)
      expect(evidence.capture).toBeNull()
    } finally {
      await opened.close()
    }
  })

  it('lists and embeds the first 20 top talkers of a capture analysed with a large --top', async () => {
    const db = freshStore('many-talkers')
    expect((await runCli(['pcap', CAPTURE, '--top', '50', '--db', db, '--json'])).code).toBe(0)
    const out = join(tmp.dir, 'many-talkers.html')
    const report = await runCli(['report', '--db', db, '--out', out])
    expect(report.code, report.stderr).toBe(0)
    const html = readFileSync(out, 'utf8')
    expect(html).toContain("<h3>Top talkers (the first 20 of the 50 the capture's analysis lists)</h3>")
    const table = html.slice(html.indexOf('<h3>Top talkers'), html.indexOf('</table>', html.indexOf('<h3>Top talkers')))
    expect(table.match(/<tr>/g)?.length).toBe(1 + 20)
    const embedded = JSON.parse(
      /<script type="application\/json" id="billwatch-evidence">(.*?)<\/script>/s.exec(html)![1]!,
    )
    expect(embedded.capture.ntp.topTalkers).toHaveLength(20)
    expect(embedded.capture.ntp.topTalkers[0].address).toBe('162.220.96.14')
  })

  it('refuses an --out it cannot write before doing any work, in one line, and writes nothing', async () => {
    const db = freshStore('refused')
    const storeBefore = readFileSync(db)
    const missingDir = join(tmp.dir, 'no-such-dir/report.html')
    const result = await runCli(['report', '--db', db, '--pcap', CAPTURE, '--out', missingDir])
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split('\n')[0]).toMatch(
      /no-such-dir\/report\.html: --out: cannot write: no such directory \S*no-such-dir$/,
    )
    expect(existsSync(join(tmp.dir, 'no-such-dir'))).toBe(false)
    // Nothing was gathered either: the store was not even opened, so no capture analysis was saved in it.
    expect(readFileSync(db).equals(storeBefore)).toBe(true)
    expect(existsSync(`${db}.wal`)).toBe(false)
  })
})
