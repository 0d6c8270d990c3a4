import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

/**
 * Exec commands that are file-transfer protocols rather than commands: what
 * `scp -O` (the legacy SCP protocol), `rsync` over ssh and a hand-started SFTP
 * server run on the far side. A grant without file transfer refuses them as it
 * refuses the SFTP subsystem.
 *
 * Two checks. The command line, seen through the wrappers that do not change
 * what runs (`env`, `nice`, `sudo`, `sh -c '…'` …). And, because a command line
 * can always be disguised (a copied binary, `sh -c "$(echo … | base64 -d)"`),
 * the channel's first bytes: an SFTP client's first packet is SSH_FXP_INIT, which
 * no typed or piped text begins with (its first byte is NUL), so SFTP over an
 * exec channel is refused whatever the command says (ProtocolSniffer).
 *
 * This closes the protocols, not every way to move bytes: `cat file` and
 * `cat > file` remain commands, and a renamed scp or rsync binary passes the
 * first check; their command lines and both directions of their bytes are in
 * the recording (recordings/FORMAT.md).
 */
const PATTERNS: ReadonlyArray<{ name: string; test: RegExp }> = [
  // scp's server side: "scp [-r] [-p] [-d] -t|-f [--] PATH"
  { name: 'scp', test: /^(?:\S*\/)?scp(?:\s+-[a-zA-Z]+)*\s+-[a-zA-Z]*[tf][a-zA-Z]*(?:\s|$)/ },
  { name: 'rsync', test: /^(?:\S*\/)?rsync\s+--server(?:\s|$)/ },
  { name: 'sftp', test: /^(?:\S*\/)?(?:sftp-server|internal-sftp)(?:\s|$)/ },
];

/** The letters of sudo's options that take no value. */
const FLAG = 'abcdefijklmnoqsvwxyzABEFGHIJKLMNOPQRSVWXYZ';
/**
 * sudo's options before the command: `--` ends them; the ones that take a value
 * (-u USER, -g GROUP, -C FD, -D DIR, -h HOST, -p PROMPT, -r ROLE, -t TYPE, -T
 * TIMEOUT, -U USER, alone or last in a cluster such as -nu, with the value apart
 * or attached) are read with their value; any other cluster (-n, -E, -HiS) is
 * flags only. Long options take their value after `=` or as the next word.
 */
const SUDO_OPTIONS =
  String.raw`(?:\s+(?:--(?=\s)|--(?:user|group|close-from|chdir|host|prompt|role|type|command-timeout|other-user)(?:=\S*|\s+\S+)|--[a-z][a-z-]*(?:=\S*)?|-[${FLAG}]*[ugCDhprtTU](?:\s+\S+|\S+)|-[${FLAG}]+))*`;
/** Prefixes that run the rest of the line unchanged: assignments, and commands that exec their arguments. */
const WRAPPER = new RegExp(
  String.raw`^(?:[A-Za-z_][A-Za-z0-9_]*=\S*|exec|command|nohup|busybox|(?:\S*\/)?env(?:\s+(?:-[iv0]+|-u\s+\S+|--unset=\S+|--))*|(?:\S*\/)?(?:sudo|doas)` +
    SUDO_OPTIONS +
    String.raw`|(?:\S*\/)?nice(?:\s+-n\s*-?\d+|\s+-\d+)?|(?:\S*\/)?ionice(?:\s+-[cnp]\s*\d+)*|(?:\S*\/)?timeout(?:\s+-\S+)*\s+\d+[smhd]?|(?:\S*\/)?stdbuf(?:\s+-[ioe]\S+)*)\s+`,
);
/** A shell running one command string: sh -c 'CMD', bash -lc "CMD", … */
const SHELL_C = /^(?:\S*\/)?(?:sh|bash|dash|zsh|ksh|ash)(?:\s+-[a-zA-Z]*)*\s+-[a-zA-Z]*c[a-zA-Z]*\s+(.*)$/s;

/** The protocol this exec command starts, if it is one; undefined for an ordinary command. */
export function fileTransferProtocol(command: string, depth = 0): string | undefined {
  let cmd = command.trim();
  for (let m = WRAPPER.exec(cmd), n = 0; m && n < 32; m = WRAPPER.exec(cmd), n++) cmd = cmd.slice(m[0].length).trimStart();
  const shell = depth < 4 ? SHELL_C.exec(cmd) : null;
  if (shell) return fileTransferProtocol(unquote(shell[1] as string), depth + 1);
  return PATTERNS.find((p) => p.test.test(cmd))?.name;
}

/** The first word of a shell command string, unquoted ('…' or "…"); good enough to see what it runs. */
function unquote(s: string): string {
  const t = s.trim();
  const q = t[0];
  if (q === "'" || q === '"') {
    const end = t.indexOf(q, 1);
    return end > 0 ? t.slice(1, end) : t.slice(1);
  }
  return t;
}

/**
 * SSH_FXP_INIT (draft-ietf-secsh-filexfer-02 §4): uint32 length, byte 1, uint32
 * version, then optional extensions. Five bytes decide: a length from 5 to
 * 256 KiB (so the first byte is NUL and the second below 4) and type 1. The
 * version is not looked at: OpenSSH's sftp-server answers any version with its
 * own, so a client may send whatever it likes there.
 */
const INIT_BYTES = 5;
const INIT_MAX_LENGTH = 256 * 1024;
export function initPrefix(b: Buffer): 'no' | 'maybe' | 'yes' {
  if (b.length >= 1 && b[0] !== 0) return 'no';
  if (b.length >= 2 && (b[1] as number) >= INIT_MAX_LENGTH >>> 16) return 'no';
  if (b.length >= 5 && b[4] !== 1) return 'no';
  if (b.length < INIT_BYTES) return 'maybe';
  const length = b.readUInt32BE(0);
  return length >= 5 && length < INIT_MAX_LENGTH ? 'yes' : 'no';
}

/**
 * In the engineer→target path of an exec channel whose grant has no file
 * transfer: holds the first bytes only while they could be an SFTP INIT (an
 * engineer's typing or a pipe of text starts with anything but NUL, so it passes
 * at once), and when they are one, passes nothing and calls onSftp.
 */
export class ProtocolSniffer extends Transform {
  #held: Buffer[] = [];
  #heldBytes = 0;
  #decided = false;
  #refused = false;

  constructor(private readonly onSftp: () => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.#refused) return done();
    if (this.#decided) return done(null, chunk);
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    const head = Buffer.concat(this.#held, Math.min(this.#heldBytes, INIT_BYTES));
    const verdict = initPrefix(head);
    if (verdict === 'maybe') return done();
    this.#decided = true;
    const held = Buffer.concat(this.#held);
    this.#held = [];
    if (verdict === 'yes') {
      this.#refused = true;
      this.onSftp();
      return done();
    }
    done(null, held);
  }

  override _flush(done: TransformCallback): void {
    // EOF before five bytes: what was held was not an INIT (it could not be answered).
    done(null, this.#held.length && !this.#decided ? Buffer.concat(this.#held) : undefined);
  }
}
