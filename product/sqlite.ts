/**
 * One small SQLite interface for the records index, over whichever binding
 * the runtime can load: Node's built-in `node:sqlite` where it exists (Deno,
 * Node 22.5+) and better-sqlite3 elsewhere (Node 20, where the device runs
 * today). Deno cannot load better-sqlite3 (a nan addon, not Node-API), and
 * the device deploys with Deno, so the records code never names a binding.
 * Written by hand because the two APIs differ only in these few calls.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

export type SqliteParams = unknown[];

export interface SqliteStatement {
  run(...params: SqliteParams): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: SqliteParams): unknown;
  all(...params: SqliteParams): unknown[];
}

export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  /** Runs `fn` in one transaction (rolled back when it throws). */
  transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T;
  close(): void;
  /** False once closed. */
  readonly open: boolean;
}

const require = createRequire(import.meta.url);

interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean }) => { prepare(sql: string): SqliteStatement; exec(sql: string): void; close(): void };
}

interface BetterSqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T;
  close(): void;
  readonly open: boolean;
}

/** node:sqlite when this runtime has it, else undefined. */
function builtinSqlite(): NodeSqliteModule | undefined {
  try {
    return require('node:sqlite') as NodeSqliteModule;
  } catch {
    return undefined;
  }
}

export class SqliteOpenError extends Error {
  constructor(path: string, reason: string) {
    super(`the records index ${path} cannot be opened: ${reason}`);
    this.name = 'SqliteOpenError';
  }
}

/** Opens (or creates) a database; `readonly` ones must exist. */
export function openSqlite(path: string, options: { readonly?: boolean } = {}): SqliteDatabase {
  if (options.readonly && !existsSync(path)) throw new SqliteOpenError(path, 'it does not exist');
  const builtin = builtinSqlite();
  if (builtin) {
    const db = new builtin.DatabaseSync(path, options.readonly ? { readOnly: true } : {});
    let open = true;
    return {
      get open() {
        return open;
      },
      prepare: (sql) => db.prepare(sql),
      exec: (sql) => db.exec(sql),
      transaction: (fn) => (...args) => {
        db.exec('BEGIN');
        try {
          const result = fn(...args);
          db.exec('COMMIT');
          return result;
        } catch (err) {
          db.exec('ROLLBACK');
          throw err;
        }
      },
      close: () => {
        open = false;
        db.close();
      },
    };
  }
  const Database = require('better-sqlite3') as new (path: string, options?: { readonly?: boolean; fileMustExist?: boolean }) => BetterSqliteDatabase;
  const db = new Database(path, options.readonly ? { readonly: true, fileMustExist: true } : {});
  return {
    get open() {
      return db.open;
    },
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => db.exec(sql),
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
}
