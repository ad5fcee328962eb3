import type pg from 'pg';

/** Small read-only probes of a database's catalogue, for migration tests. */
export async function tableNames(sql: pg.Pool): Promise<string[]> {
  const { rows } = await sql.query<{ table_name: string }>(
    `select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
  );
  return rows.map((row) => row.table_name);
}

export async function columnNames(sql: pg.Pool, table: string): Promise<string[]> {
  const { rows } = await sql.query<{ column_name: string }>(
    `select column_name from information_schema.columns where table_schema = 'public' and table_name = $1 order by column_name`,
    [table],
  );
  return rows.map((row) => row.column_name);
}

export async function constraintNames(sql: pg.Pool, table: string): Promise<string[]> {
  const { rows } = await sql.query<{ conname: string }>(
    `select conname from pg_constraint where conrelid = $1::regclass order by conname`,
    [`public.${table}`],
  );
  return rows.map((row) => row.conname);
}

export async function sequenceNames(sql: pg.Pool): Promise<string[]> {
  const { rows } = await sql.query<{ sequence_name: string }>(
    `select sequence_name from information_schema.sequences where sequence_schema = 'public' order by sequence_name`,
  );
  return rows.map((row) => row.sequence_name);
}

export async function indexNames(sql: pg.Pool, table: string): Promise<string[]> {
  const { rows } = await sql.query<{ indexname: string }>(
    `select indexname from pg_indexes where schemaname = 'public' and tablename = $1 order by indexname`,
    [table],
  );
  return rows.map((row) => row.indexname);
}

export async function appliedMigrations(sql: pg.Pool): Promise<string[]> {
  const { rows } = await sql.query<{ name: string }>(`select name from mikro_orm_migrations order by id`);
  return rows.map((row) => row.name);
}
