import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {scheduleFrequency} from '../../src/lambda/cron.js'
import {checkScheduleFrequency, checkStackName, scheduleExpression} from '../../src/lambda/template.js'

const NOW = new Date('2026-01-15T00:00:00Z')

describe('how often a schedule fires', () => {
  it('counts the runs of rate(N minutes|hours|days) a day', () => {
    fc.assert(
      fc.property(fc.integer({max: 1440, min: 1}), (n) => {
        expect(scheduleFrequency(`rate(${n} ${n === 1 ? 'minute' : 'minutes'})`, NOW).runsPerDay).toBe(
          Math.max(1, Math.floor(1440 / n)),
        )
      }),
    )
    expect(scheduleFrequency('rate(3 hours)', NOW).runsPerDay).toBe(8)
    expect(scheduleFrequency('rate(2 days)', NOW).runsPerDay).toBe(1)
    expect(() => scheduleFrequency('rate(1 minutes)', NOW)).toThrow(/"1 minute"/)
    expect(() => scheduleFrequency('rate(0 days)', NOW)).toThrow(/at least 1/)
  })

  it('counts minutes × hours of a cron, and finds the first day it fires', () => {
    expect(scheduleFrequency(scheduleExpression('* * * * *'), NOW).runsPerDay).toBe(1440)
    expect(scheduleFrequency(scheduleExpression('*/15 9-17 * * 1-5'), NOW).runsPerDay).toBe(4 * 9)
    expect(scheduleFrequency('cron(47 13 * * ? *)', NOW)).toMatchObject({firstDay: '2026-01-15', runsPerDay: 1})
    expect(scheduleFrequency('cron(0 6 ? * MON#2 *)', NOW).firstDay).toBe('2026-02-09')
    expect(scheduleFrequency('cron(0 6 L * ? *)', NOW).firstDay).toBe('2026-01-31')
    expect(scheduleFrequency('cron(0 6 29 2 ? *)', NOW).firstDay).toBe('2028-02-29')
  })

  it('finds schedules that never fire: a day no month has, a year gone by', () => {
    for (const never of [
      'cron(0 0 30 2 ? *)',
      'cron(0 0 31 4 ? *)',
      'cron(0 0 1 1 ? 2001)',
      'cron(0 0 ? 2 MON#5 2026)',
    ]) {
      expect(scheduleFrequency(never, NOW).firstDay, never).toBeNull()
      expect(() => checkScheduleFrequency(never, false, NOW), never).toThrow(/never fires/)
    }
  })

  it('refuses more than one run a day with what it would cost, and warns with --allow-frequent', () => {
    expect(() => checkScheduleFrequency('cron(* * * * ? *)', false, NOW)).toThrow(
      '--cron: runs 1440 times a day: about $14-$29 a day of Cost Explorer requests',
    )
    expect(() => checkScheduleFrequency('rate(1 minute)', false, NOW)).toThrow(/1440 times a day/)
    expect(checkScheduleFrequency('cron(0 */12 * * ? *)', true, NOW)).toEqual([
      'the schedule runs 2 times a day: about $0.02-$0.04 a day of Cost Explorer requests ($0.01 each), for data that changes about once a day',
    ])
    expect(checkScheduleFrequency('cron(47 13 * * ? *)', false, NOW)).toEqual([])
  })

  it('takes only CloudFormation stack names, so the printed deploy command cannot run anything else', () => {
    expect(checkStackName('billwatch-prod-2')).toBe('billwatch-prod-2')
    for (const bad of ['x;touch pwned', '$(id)', '1abc', '', 'a b', 'x'.repeat(129), "a'b"])
      expect(() => checkStackName(bad), bad).toThrow(/--stack-name/)
  })
})
