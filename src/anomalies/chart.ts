/**
 * The series on a log axis with its steps marked: as terminal text (`--log-scale`) and as an SVG image
 * (`--svg FILE`). Both return strings; the command prints or writes them.
 */
import * as echarts from 'echarts'

import {formatRatio} from '../core/units.js'
import {formatAmount} from './describe.js'
import {dayNumber, dayString} from '../detect/index.js'
import type {Spike, Step} from './types.js'

export interface ChartInput {
  title: string
  unit: string
  points: {day: string; value: number}[]
  steps: Step[]
  spikes: Spike[]
  /** A line under the chart, e.g. the pricing label. */
  note?: string
}

export {formatAmount} from './describe.js'

/**
 * A bar chart in text, one column per day (or per few days when the range is wider than `width`), the y axis
 * in decades. A column holding a step start shows `┃` above its bar and `▲` under the axis.
 */
export function renderLogChart(input: ChartInput, options: {width?: number; height?: number} = {}): string {
  const width = options.width ?? 72
  const height = options.height ?? 12
  const positive = input.points.filter((p) => p.value > 0)
  if (positive.length === 0) return `${input.title}: no positive values to draw on a log scale`
  const first = dayNumber(input.points[0]!.day)
  const span = dayNumber(input.points.at(-1)!.day) - first + 1
  const daysPerColumn = Math.max(1, Math.ceil(span / width))
  const columns = Math.ceil(span / daysPerColumn)
  const buckets: number[][] = Array.from({length: columns}, () => [])
  for (const p of positive) buckets[Math.floor((dayNumber(p.day) - first) / daysPerColumn)]!.push(Math.log10(p.value))
  // Mean of logs: a geometric mean per column, as the eye reads a log chart.
  const heights = buckets.map((b) => (b.length === 0 ? Number.NaN : b.reduce((a, v) => a + v, 0) / b.length))
  const low = Math.floor(Math.min(...heights.filter((h) => !Number.isNaN(h))))
  const high = Math.max(low + 1, Math.ceil(Math.max(...heights.filter((h) => !Number.isNaN(h)))))
  const stepColumns = new Set(input.steps.map((s) => Math.floor((dayNumber(s.date) - first) / daysPerColumn)))
  // Label the rows nearest each whole decade (and at most every other row, so labels never touch).
  const labels: string[] = Array.from({length: height}, () => '')
  const decadesPerLabel = Math.max(1, Math.ceil((2 * (high - low)) / height))
  for (let decade = low; decade <= high; decade += decadesPerLabel) {
    const row = Math.round(((high - decade) / (high - low)) * (height - 1))
    labels[row] = formatAmount(10 ** decade, input.unit)
  }
  const labelWidth = Math.max(...labels.map((l) => l.length))
  const lines = [input.title]
  for (let row = 0; row < height; row++) {
    const level = high - ((high - low) * (row + 0.5)) / height
    let line = ''
    for (let c = 0; c < columns; c++) {
      const h = heights[c]!
      if (!Number.isNaN(h) && h >= level) line += '█'
      else line += stepColumns.has(c) ? '┃' : ' '
    }
    lines.push(`${(labels[row] ?? '').padStart(labelWidth)} ┤${line}`)
  }
  lines.push(`${' '.repeat(labelWidth)} └${'─'.repeat(columns)}`)
  let marks = ''
  for (let c = 0; c < columns; c++) marks += stepColumns.has(c) ? '▲' : ' '
  if (stepColumns.size > 0) lines.push(`${' '.repeat(labelWidth + 2)}${marks.trimEnd()}`)
  const lastDay = dayString(first + span - 1)
  lines.push(
    `${' '.repeat(labelWidth + 2)}${input.points[0]!.day}${lastDay.padStart(Math.max(lastDay.length, columns - 10))}`,
  )
  for (const step of input.steps) {
    lines.push(
      `▲ ${step.date}  ${step.direction} ${formatRatio(step.ratio)}: ${formatAmount(step.levelBefore, step.unit)}/day → ${formatAmount(step.levelAfter, step.unit)}/day${step.tentative ? ' (tentative)' : ''}`,
    )
  }
  if (input.note) lines.push(input.note)
  return lines.join('\n')
}

/** The same chart as an SVG document (ECharts, server-side rendered): log y axis, steps as marked lines. */
export function renderSvgChart(input: ChartInput, options: {width?: number; height?: number} = {}): string {
  const chart = echarts.init(null, null, {
    height: options.height ?? 520,
    renderer: 'svg',
    ssr: true,
    width: options.width ?? 1100,
  })
  try {
    const byDay = new Map(input.points.map((p) => [p.day, p.value]))
    const first = dayNumber(input.points[0]!.day)
    const last = dayNumber(input.points.at(-1)!.day)
    // Gaps stay gaps (null breaks the line); zeros cannot sit on a log axis and are left out too.
    const data: [string, null | number][] = []
    for (let d = first; d <= last; d++) {
      const v = byDay.get(dayString(d))
      data.push([dayString(d), v !== undefined && v > 0 ? v : null])
    }
    const axisLabel = (value: number) => formatAmount(value, input.unit)
    chart.setOption({
      animation: false,
      backgroundColor: '#ffffff',
      grid: {bottom: input.note ? 70 : 50, containLabel: true, left: 20, right: 40, top: 60},
      series: [
        {
          connectNulls: false,
          data,
          lineStyle: {color: '#1f5fa8', width: 1.5},
          markLine: {
            data: [
              ...input.steps.map((s) => ({
                label: {
                  formatter: `${s.date}  ${s.direction} ${formatRatio(s.ratio)}${s.tentative ? ' (tentative)' : ''}`,
                  position: 'insideEndTop',
                },
                lineStyle: {
                  color: s.direction === 'up' ? '#c0392b' : '#27ae60',
                  type: s.tentative ? 'dashed' : 'solid',
                  width: 2,
                },
                xAxis: s.date,
              })),
              // The day the step starts to cost money, when the free allowance delays it.
              ...input.steps
                .filter((s) => s.costStepDate !== null && s.costStepDate !== s.date)
                .map((s) => ({
                  label: {formatter: `costs from ${s.costStepDate}`, position: 'insideEndBottom'},
                  lineStyle: {color: '#7f8c8d', type: 'dotted', width: 1.5},
                  xAxis: s.costStepDate,
                })),
            ],
            symbol: 'none',
          },
          markPoint: {
            data: input.spikes
              .filter((s) => s.value > 0)
              .map((s) => ({coord: [s.date, s.value], value: formatRatio(s.ratio)})),
            itemStyle: {color: '#e67e22'},
            symbolSize: 36,
          },
          name: input.title,
          showSymbol: false,
          type: 'line',
        },
      ],
      textStyle: {fontFamily: 'DejaVu Sans, Arial, sans-serif'},
      title: [
        {left: 'center', text: input.title, textStyle: {fontSize: 16}},
        ...(input.note
          ? [
              {
                bottom: 8,
                left: 'center',
                text: input.note,
                textStyle: {color: '#555', fontSize: 11, fontWeight: 'normal' as const},
              },
            ]
          : []),
      ],
      xAxis: {type: 'time'},
      yAxis: {
        axisLabel: {formatter: axisLabel},
        logBase: 10,
        name: `${input.unit} per day (log scale)`,
        nameTextStyle: {align: 'left'},
        type: 'log',
      },
    })
    return chart.renderToSVGString()
  } finally {
    chart.dispose()
  }
}
