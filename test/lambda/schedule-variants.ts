import type {ScheduleOptions} from '../../src/lambda/template.js'

export const ATHENA = {
  output: 's3://org-athena-results/billwatch/',
  table: 'cid_data_export.cur2',
  tableLocation: 's3://org-cur/cur2/data/',
  workgroup: 'billing',
}

/** One of each kind of template `schedule` writes: Cost Explorer alone, with a topic and CloudTrail, and Athena. */
export const SCHEDULE_VARIANTS: Record<string, ScheduleOptions> = {
  athena: {athena: ATHENA},
  plain: {},
  topic: {allInstances: true, topicArn: 'arn:aws:sns:us-east-1:123456789012:alerts', withCloudtrail: true},
  instances: {
    athena: {...ATHENA, maxScanGb: 3, workgroup: undefined as unknown as string},
    cron: '5 7 * * *',
    instances: ['i-0a1b2c3d'],
  },
}
