/**
 * The report's two charts as ECharts options: plain JSON (no functions), so they are embedded in the page
 * as data and the page's script only adds the formatters. Counts of series and markers are returned beside
 * each option so the command's --json and the browser test can check what was drawn.
 */
import type {Spike, Step} from '../anomalies/types.js'
import {formatRatio, formatShare} from '../cli/format.js'
import type {CorrelatedStep} from '../correlate/types.js'
import type {CumulativePoint, ThresholdRow} from '../pcap/report.js'

export type ChartId = 'cumulative' | 'series'

/** How the page formats a value axis and tooltips. */
export type ValueFormat = 'bytes' | 'count' | 'share'

export interface ChartSpec {
  id: ChartId
  title: string
  /** An ECharts option object, JSON only. */
  option: Record<string, unknown>
  yFormat: ValueFormat
  /** The y axis type the chart starts with (the series chart's toggle switches it). */
  yAxisType: 'log' | 'value'
  series: number
  /** markLine + markPoint entries over all series. */
  markers: number
}

export interface SeriesChartInput {
  /** The series label (a usage type, or 'DataTransfer-Out' for the egress total) and its unit. */
  label: string
  unit: string
  points: {day: string; value: number}[]
  steps: Step[]
  spikes: Spike[]
  /** Correlated steps; the top-ranked change of each is annotated. */
  correlated: CorrelatedStep[]
}

const STEP_COLOUR = '#c0392b'
const CHANGE_COLOUR = '#1f6f43'

/**
 * Daily usage on a log axis, with a vertical line at each step and a pin at the day of the top-ranked
 * configuration change of each correlated step.
 */
export function seriesChart(input: SeriesChartInput): ChartSpec {
  const {label, points, unit} = input
  const valueOn = new Map(points.map((p) => [p.day, p.value]))
  const stepLines = input.steps.map((step) => ({
    label: {formatter: `${step.date}: ${step.direction === 'up' ? '▲' : '▼'} ${formatRatio(step.ratio)}`},
    name: `step ${step.date}`,
    xAxis: step.date,
  }))
  const changePins = input.correlated.flatMap((step) => {
    const top = step.candidates[0]
    if (!top) return []
    const day = top.time.slice(0, 10)
    return [{coord: [day, valueOn.get(day) ?? null], name: `${top.subject} (${day})`, value: top.subject}]
  })
  const spikePins = input.spikes.map((spike) => ({
    coord: [spike.date, spike.value],
    name: `spike ${spike.date}: ${formatRatio(spike.ratio)}`,
    value: formatRatio(spike.ratio),
  }))
  const series = [
    {
      connectNulls: false,
      // A log axis cannot place 0; such days are left out (gaps), never drawn as a fake small value.
      data: points.map((p) => [p.day, p.value > 0 ? p.value : null]),
      lineStyle: {width: 2},
      markLine: {
        data: stepLines,
        label: {color: STEP_COLOUR, fontWeight: 'bold', position: 'end'},
        lineStyle: {color: STEP_COLOUR, type: 'dashed', width: 1.5},
        symbol: 'none',
      },
      markPoint: {
        data: [
          ...changePins,
          ...spikePins.map((pin) => ({
            ...pin,
            itemStyle: {color: '#8e44ad'},
            symbol: 'diamond',
            symbolSize: 12,
            label: {position: 'top'},
          })),
        ],
        itemStyle: {color: CHANGE_COLOUR},
        label: {
          backgroundColor: '#ffffffdd',
          borderColor: CHANGE_COLOUR,
          borderRadius: 3,
          borderWidth: 1,
          color: CHANGE_COLOUR,
          formatter: '{c}',
          padding: [2, 4],
          position: 'top',
        },
        symbol: 'pin',
        symbolSize: 36,
      },
      name: label,
      showSymbol: false,
      type: 'line',
    },
  ]
  return {
    id: 'series',
    markers: stepLines.length + changePins.length + spikePins.length,
    option: {
      animation: false,
      dataZoom: [{type: 'inside'}, {bottom: 8, height: 20, type: 'slider'}],
      grid: {bottom: 70, left: 80, right: 40, top: 70},
      legend: {top: 8, type: 'scroll'},
      series,
      tooltip: {trigger: 'axis'},
      xAxis: {type: 'time'},
      // Base 32 (2^5) puts bytes ticks on round binary values: 1 MB, 32 MB, 1 GB.
      yAxis: {logBase: unit === 'bytes' ? 32 : 10, name: unit === 'bytes' ? 'per day' : `${unit} per day`, type: 'log'},
    },
    series: series.length,
    title: `Daily ${label}`,
    yAxisType: 'log',
    yFormat: unit === 'bytes' ? 'bytes' : 'count',
  }
}

/**
 * The NTP pool server incident's chart: share of NTP bytes (and of clients) going to clients with at most N queries, N
 * on a log
 * axis, with a vertical line at each blocking threshold that blocks anyone.
 */
export function cumulativeChart(points: CumulativePoint[], thresholds: ThresholdRow[]): ChartSpec {
  // Block-everyone (≥1) and block-nobody rows bound the table; the lines mark the choices between.
  const marked = thresholds.filter((row) => row.minQueries > 1 && row.blockedClients > 0)
  const thresholdLines = marked.map((row) => ({
    label: {formatter: `≥${row.minQueries}\ncut ${formatShare(row.bandwidthCutShare, 0)}`},
    name: `block ≥${row.minQueries} queries`,
    xAxis: row.minQueries,
  }))
  const maxX = Math.max(1, ...points.map((p) => p.maxQueries), ...marked.map((row) => row.minQueries))
  const series = [
    {
      data: points.map((p) => [p.maxQueries, p.trafficShare]),
      markLine: {
        data: thresholdLines,
        label: {color: STEP_COLOUR, lineHeight: 14, position: 'end'},
        lineStyle: {color: STEP_COLOUR, type: 'dashed'},
        symbol: 'none',
      },
      name: 'share of NTP bytes',
      step: 'end',
      symbolSize: 6,
      type: 'line',
    },
    {
      data: points.map((p) => [p.maxQueries, p.clientShare]),
      lineStyle: {type: 'dotted'},
      name: 'share of clients',
      step: 'end',
      symbolSize: 4,
      type: 'line',
    },
  ]
  return {
    id: 'cumulative',
    markers: thresholdLines.length,
    option: {
      animation: false,
      grid: {bottom: 50, left: 70, right: 40, top: 80},
      legend: {left: 'center', top: 4},
      series,
      tooltip: {trigger: 'axis'},
      xAxis: {
        max: maxX,
        min: 1,
        name: 'queries per client in the capture',
        nameGap: 28,
        nameLocation: 'middle',
        type: 'log',
      },
      yAxis: {max: 1, min: 0, type: 'value'},
    },
    series: series.length,
    title: 'Cumulative NTP traffic by client',
    yAxisType: 'value',
    yFormat: 'share',
  }
}
