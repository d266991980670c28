import {Store} from './src/store/index.js'
const store = await Store.open(':memory:')
await store.run('BEGIN TRANSACTION')
await store.run(`CREATE OR REPLACE TEMP TABLE staged_usage (day DATE NOT NULL, amount DOUBLE, usage_type VARCHAR)`)
const app = await store.connection.createAppender('staged_usage', 'main', 'temp')
const t = performance.now()
for (let i = 0; i < 1_000_000; i++) { app.appendVarchar('2024-03-01'); app.appendDouble(i); app.appendVarchar('x' + (i % 100)); app.endRow() }
app.flushSync(); app.closeSync()
console.log(performance.now() - t, await store.all('select count(*)::INT n, sum(amount) from staged_usage'))
await store.run('ROLLBACK')
