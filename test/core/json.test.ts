/**
 * The accessors for JSON billwatch did not write: any value in, a typed answer or undefined out, own keys only.
 */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {
  arrayAt,
  entriesOf,
  field,
  firstString,
  isRecord,
  namesOf,
  recordAt,
  scalarAt,
  stringAt,
  stringsIn,
} from '../../src/core/json.js'

describe('reading untrusted JSON', () => {
  it('answers the typed value at a path, and undefined for any other shape', () => {
    const record = JSON.parse('{"a": {"b": "x", "n": 5, "list": [1, "y"], "o": {}}, "s": "t"}') as unknown
    expect(stringAt(record, 'a', 'b')).toBe('x')
    expect(stringAt(record, 'a', 'n')).toBeUndefined()
    expect(scalarAt(record, 'a', 'n')).toBe(5)
    expect(arrayAt(record, 'a', 'list')).toEqual([1, 'y'])
    expect(arrayAt(record, 'a', 'b')).toEqual([])
    expect(recordAt(record, 'a', 'o')).toEqual({})
    // A step through a string, an array or null reads nothing.
    expect(field(record, 's', 'length')).toBeUndefined()
    expect(field(record, 'a', 'list', '0')).toBeUndefined()
    expect(field(null, 'a')).toBeUndefined()
    expect(firstString(undefined, 5, 'b', 'c')).toBe('b')
    expect(namesOf(['', 'a', null, 'b'])).toEqual(['a', 'b'])
    expect(scalarAt({n: Number.NaN}, 'n')).toBeUndefined()
  })

  it('never reads inherited properties: __proto__, constructor and toString keys are data or nothing', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": "yes"}, "x": {}}') as unknown
    expect(stringAt(hostile, '__proto__', 'polluted')).toBe('yes')
    expect(stringAt(hostile, 'polluted')).toBeUndefined()
    expect(field({}, 'constructor')).toBeUndefined()
    expect(field(hostile, 'x', 'toString')).toBeUndefined()
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('walks every string of a value in document order, however deep (no stack overflow)', () => {
    expect(stringsIn({a: ['x', {b: 'y'}], c: 'z', d: 1})).toEqual(['x', 'y', 'z'])
    const depth = 200_000
    const deep = JSON.parse(`${'{"a":['.repeat(depth)}"bottom"${']}'.repeat(depth)}`) as unknown
    expect(stringsIn(deep)).toEqual(['bottom'])
  })

  it('never throws, whatever the value and path (property)', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.array(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'length', '0'))),
        (value, path) => {
          const at = field(value, ...path)
          expect(stringAt(value, ...path) === undefined || typeof at === 'string').toBe(true)
          expect(Array.isArray(arrayAt(value, ...path))).toBe(true)
          expect(isRecord(recordAt(value, ...path)) || recordAt(value, ...path) === undefined).toBe(true)
          expect(stringsIn(value).every((s) => typeof s === 'string')).toBe(true)
          expect(entriesOf(value).length).toBe(isRecord(value) ? Object.keys(value).length : 0)
        },
      ),
      {numRuns: 500},
    )
  })
})
