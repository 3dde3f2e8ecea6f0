// CPU of the PostgreSQL backends serving one database (the server runs on this machine): the
// database's share of a benchmark's work, which load on the machine hardly changes.
import { sql, type Kysely } from 'kysely';
import { cpuSecondsOf } from './postfix.ts';

/** CPU seconds used so far by every backend connected to the current database (0 for one that just ended). */
export async function backendCpuSeconds(db: Kysely<any>): Promise<number> {
  const { rows } = await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database()`.execute(db);
  let total = 0;
  for (const { pid } of rows) {
    try {
      total += cpuSecondsOf(pid);
    } catch {
      /* a backend that just ended */
    }
  }
  return total;
}
