/** A port that cannot be listened on, said in one line (`dbp serve` exits with it, starting nothing else). */
export class ListenFailed extends Error {}

/** The one-line reason why listening on host:port failed, for the errors a wrong port or host gives. */
export function listenFailure(error: unknown, host: string, port: number): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') return new ListenFailed(`port ${port} on ${host} is already in use`);
  if (code === 'EACCES') return new ListenFailed(`port ${port} on ${host} may not be listened on by this user`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ListenFailed(`${host} is not an address of this machine (port ${port})`);
  return error instanceof Error ? error : new Error(String(error));
}
