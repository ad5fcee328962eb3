/**
 * Records the SQL statements a test server sends, through the ORM's query logger hook (instrumentation; nothing is
 * replaced). Pass `onQuery` to startTestServer, then wrap a request in `during` to see what it sent.
 */
export function statementRecorder() {
  let recording: string[] | undefined;
  return {
    onQuery: (sql: string) => {
      recording?.push(sql);
    },
    async during<T>(request: () => Promise<T>): Promise<{ result: T; sql: string[] }> {
      const sql: string[] = [];
      recording = sql;
      try {
        return { result: await request(), sql };
      } finally {
        recording = undefined;
      }
    },
  };
}
