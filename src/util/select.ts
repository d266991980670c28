/** Up to this many are picked by insertion in one pass; more by sorting every item once. */
const TOP_BY_INSERTION = 100

/**
 * The `top` best of items 0..n-1 that `keep` accepts, best first, where before(a, b) > 0 puts a
 * before b (ties must be broken by the comparator for a stable order).
 */
export function bestFirst(
  n: number,
  top: number,
  before: (a: number, b: number) => number,
  keep: (item: number) => boolean = () => true,
): number[] {
  if (top <= 0) return []
  // Many asked for (a blocklist of every client): sort once, rather than insert each into a long list.
  if (top > TOP_BY_INSERTION) {
    return Array.from({length: n}, (_, item) => item)
      .filter((item) => keep(item))
      .sort((a, b) => before(b, a))
      .slice(0, top)
  }
  const order: number[] = []
  for (let item = 0; item < n; item++) {
    if (!keep(item) || (order.length === top && before(item, order[top - 1]!) <= 0)) continue
    if (order.length === top) order.pop()
    let at = order.length
    while (at > 0 && before(item, order[at - 1]!) > 0) at--
    order.splice(at, 0, item)
  }
  return order
}
