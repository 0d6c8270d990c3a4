/**
 * Exec commands that are file-transfer protocols rather than commands: what
 * `scp -O` (the legacy SCP protocol), `rsync` over ssh and a hand-started SFTP
 * server run on the far side. A grant without file transfer refuses them as it
 * refuses the SFTP subsystem.
 *
 * This closes the protocols, not every way to move bytes: `cat file` and
 * `cat > file` remain commands (their output and the command line are recorded).
 */
const PATTERNS: ReadonlyArray<{ name: string; test: RegExp }> = [
  // scp's server side: "scp [-r] [-p] [-d] -t|-f [--] PATH"
  { name: 'scp', test: /^(?:\S*\/)?scp(?:\s+-[a-zA-Z]+)*\s+-[a-zA-Z]*[tf][a-zA-Z]*(?:\s|$)/ },
  { name: 'rsync', test: /^(?:\S*\/)?rsync\s+--server(?:\s|$)/ },
  { name: 'sftp', test: /^(?:\S*\/)?(?:sftp-server|internal-sftp)(?:\s|$)/ },
];

/** The protocol this exec command starts, if it is one; undefined for an ordinary command. */
export function fileTransferProtocol(command: string): string | undefined {
  // Leading environment assignments and `exec`/`command` do not change what runs.
  const cmd = command.trim().replace(/^(?:(?:[A-Za-z_][A-Za-z0-9_]*=\S*|exec|command|sudo(?:\s+-\S+)*)\s+)+/, '');
  return PATTERNS.find((p) => p.test.test(cmd))?.name;
}
