/** The default cap on what one Athena query may scan; its own module so a command can show it without the AWS SDK. */

/** 10 GB: about 5 cents at $5 per TB; a month of CUR 2.0 for a few hundred accounts reads less. */
export const DEFAULT_MAX_SCAN_GB = 10
