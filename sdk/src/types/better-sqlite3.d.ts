// The part of `better-sqlite3` the index's SQLite storage uses (internal: never in a public type).
declare module "better-sqlite3" {
  namespace Database {
    interface Statement {
      run(...params: unknown[]): unknown;
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
      iterate(...params: unknown[]): IterableIterator<unknown>;
      raw(toggle?: boolean): Statement;
    }
    interface Database {
      prepare(sql: string): Statement;
      exec(sql: string): Database;
      pragma(source: string, options?: { simple?: boolean }): unknown;
      transaction<F extends (...args: never[]) => unknown>(fn: F): F;
      close(): Database;
    }
  }
  const Database: new (filename: string, options?: { readonly?: boolean; fileMustExist?: boolean }) => Database.Database;
  export = Database;
}
