import { fileURLToPath } from 'node:url';
import { integer, optional, specsOf } from './parsers.ts';

/** The dashboard (src/modules/ui): built assets served at /ui, and how long a sign-in lasts. */
export interface DashboardConfig {
  uiDir: string;
  uiSessionMs: number;
}

const spec = specsOf<DashboardConfig>();

export const DASHBOARD_VARIABLES = [
  spec({
    name: 'MAILERDASH_UI_DIR',
    key: 'uiDir',
    defaultText: 'dist/ui of the installation',
    description: 'Directory of the built dashboard served at /ui (npm ci builds it; npm run build redoes it).',
    parse: (raw) => optional(raw) ?? fileURLToPath(new URL('../../dist/ui', import.meta.url)),
  }),
  spec({
    name: 'MAILERDASH_UI_SESSION_HOURS',
    key: 'uiSessionMs',
    defaultText: '12',
    description: 'How long a dashboard sign-in lasts before the session cookie expires.',
    parse: (raw) => integer('MAILERDASH_UI_SESSION_HOURS', 12, 1, 24 * 30)(raw) * 3_600_000,
  }),
] as const;
