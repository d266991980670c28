/** Human formatting for the terminal: the amounts-in-words of the core, under the name commands import. */
export * from '../core/units.js'
