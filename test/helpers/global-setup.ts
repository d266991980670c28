// Runs once before the suite. Kept cheap: the system packages are installed by .ci/setup-debian.
export default function setup(): void {
  process.env.TZ = 'UTC'
}
