import {describe, expect, it} from 'vitest'

import {AddressTable, AddressWordsList, FIRST_FIELD, parseAddressWords} from '../../src/pcap/addresses.js'

const PACKETS = FIRST_FIELD

/** 3000 IPv4 and 300 IPv6 addresses, interleaved, so a 16-slot table grows many times in both kinds. */
function addresses(): string[] {
  const list: string[] = []
  for (let i = 0; i < 3000; i++) {
    list.push(`10.${i >> 8}.${i & 255}.7`)
    if (i % 10 === 0) list.push(`2001:db8::${(i + 1).toString(16)}`)
  }
  // IPv4 addresses whose 32-bit value equals a small index: an IPv6 address's slot is keyed by its index.
  list.push('0.0.0.1', '0.0.0.2', '0.0.1.0')
  return list
}

describe('AddressTable', () => {
  it('numbers addresses in first-seen order and keeps each one’s fields in its slot as the table grows', () => {
    const table = new AddressTable(8)
    const list = addresses()
    // Address i is counted i % 7 + 1 times, with every address seen once before any is seen again.
    for (let round = 0; round < 7; round++) {
      list.forEach((text, i) => {
        if (round > i % 7) return
        const slot = table.intern(...parseAddressWords(text))
        table.slots[slot + PACKETS]!++
      })
    }
    expect(table.count).toBe(list.length)
    list.forEach((text, i) => {
      const index = table.find(...parseAddressWords(text))
      expect(index).toBe(i)
      expect(table.text(index)).toBe(text)
      expect(table.indexAt(table.slotOf(index))).toBe(index)
      expect(table.slots[table.slotOf(index) + PACKETS]).toBe((i % 7) + 1)
    })
    expect(table.find(...parseAddressWords('10.200.0.7'))).toBe(-1)
    expect(table.find(...parseAddressWords('2001:db8::ffff'))).toBe(-1)
  })

  it('keeps doubles in the slot through growth', () => {
    const table = new AddressTable(4)
    const slot = table.intern(...parseAddressWords('192.0.2.1'))
    table.slotDoubles[slot / 2 + 3] = 2 ** 40 + 0.5
    for (let i = 0; i < 1000; i++) table.intern(...parseAddressWords(`198.51.${i >> 8}.${i & 255}`))
    expect(table.slotDoubles[table.slotOf(0) / 2 + 3]).toBe(2 ** 40 + 0.5)
  })
})

describe('AddressWordsList', () => {
  it('gives the text of the addresses a table picks, in the order asked, indexed like an array', () => {
    const table = new AddressTable(16)
    const all = addresses()
    for (const address of all) table.intern(...parseAddressWords(address))
    const picked = [3, 0, 1, 300]
    const list = new AddressWordsList(table.wordsOf(picked))
    expect(list.length).toBe(4)
    expect([...list]).toEqual(picked.map((index) => all[index]))
    expect(list.at(0)).toBe('10.0.2.7')
    expect(list.at(2)).toBe('2001:db8::1')
    // Indexed like the array it stands in for.
    const asArray = [...list]
    for (const index of [-5, -4, -1, 1.5, 3, 4, Number.NaN]) expect(list.at(index)).toBe(asArray.at(index))
  })
})
