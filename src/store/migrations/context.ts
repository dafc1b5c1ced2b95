/** What differs between the engines, handed to every migration. */
export interface MigrationContext {
  readonly engine: 'sqlite' | 'postgres';
  /** An auto-numbered integer primary key column type. */
  readonly pkType: 'integer' | 'serial';
}
