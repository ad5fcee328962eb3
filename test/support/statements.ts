/**
 * Records the SQL statements a test server sends, through the ORM's query logger hook (instrumentation; nothing is
 * replaced). Pass `onQuery` to startTestServer, then wrap a request in `during` to see what it sent: `sql` as the
 * code wrote each statement (`?` for values), `sent` as PostgreSQL received it (the values inlined).
 */
export function statementRecorder() {
  let recording: { sql: string[]; sent: string[] } | undefined;
  return {
    onQuery: (sql: string, sent: string = sql) => {
      recording?.sql.push(sql);
      recording?.sent.push(sent);
    },
    async during<T>(request: () => Promise<T>): Promise<{ result: T; sql: string[]; sent: string[] }> {
      const statements = { sql: [] as string[], sent: [] as string[] };
      recording = statements;
      try {
        return { result: await request(), ...statements };
      } finally {
        recording = undefined;
      }
    },
  };
}
