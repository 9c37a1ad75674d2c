// The local mirror's PostgreSQL: the real server when a connection URL is given (DATABASE_URL),
// PGlite (PostgreSQL compiled to WebAssembly, in-process) otherwise. Both behind the same two
// calls, with $1-style parameters, so the sinks' SQL runs unchanged on either.

import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { SCHEMA_SQL } from "./schema.ts";

export interface Database {
  readonly kind: "postgres" | "pglite";
  query<Row extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres://... for the real server; without it, PGlite. */
  url?: string;
  /** PGlite's data folder; in memory without it. */
  pgliteDir?: string;
  /** A schema of its own (created if missing) instead of public: tests keep out of each other's way. */
  schema?: string;
}

const quoteIdent = (name: string) => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain schema name: ${name}`);
  return `"${name}"`;
};

/** Opens the database and creates the mirror's tables if they are missing. */
export async function openDatabase(options: DatabaseOptions = {}): Promise<Database> {
  const setup = [options.schema ? `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(options.schema)}; SET search_path TO ${quoteIdent(options.schema)};` : "", SCHEMA_SQL].join("\n");
  if (options.url) {
    // One connection: search_path is per session, and inserts are one statement each anyway.
    const client = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query(setup);
    } catch (error) {
      await client.end();
      throw error;
    }
    return {
      kind: "postgres",
      query: async <Row extends Record<string, unknown>>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as Row[],
      close: () => client.end(),
    };
  }
  const db = await PGlite.create(options.pgliteDir);
  await db.exec(setup);
  return {
    kind: "pglite",
    query: async <Row extends Record<string, unknown>>(sql: string, params: unknown[] = []) => (await db.query<Row>(sql, params)).rows,
    close: () => db.close(),
  };
}
