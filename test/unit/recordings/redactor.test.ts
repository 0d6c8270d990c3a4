import { describe, it, expect, afterAll } from 'vitest';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputRedactor, REDACTED } from '../../../recordings/redactor.js';
import { Recorder } from '../../../recordings/recorder.js';
import { FileRecordingStore } from '../../../recordings/store.js';
import { keyFingerprint } from '../../../recordings/keys.js';
import type { RecordingKey } from '../../../recordings/keys.js';
import { Frame } from '../../../recordings/frame-format.js';
import { eventsOf, framesOf } from '../../helpers/frames.js';
import { ManualClock } from '../../../core/clock.js';

const WINDOW = 400;

describe('InputRedactor', () => {
  it('keeps typing that the target echoes', () => {
    const r = new InputRedactor(WINDOW);
    expect(r.input(0.5, 'l', 1000)).toEqual([]);
    expect(r.output('l', 1010)).toEqual([{ t: 0.5, data: 'l' }]);
    expect(r.input(0.6, 's', 1100)).toEqual([]);
    expect(r.output('s', 1105)).toEqual([{ t: 0.6, data: 's' }]);
    // Nothing left to decide.
    expect(r.flush()).toEqual([]);
  });

  it('keeps echo that arrives in pieces, after escape sequences', () => {
    const r = new InputRedactor(WINDOW);
    r.input(1, 'cat', 1000);
    expect(r.output('\x1b[1mca', 1010)).toEqual([]);
    expect(r.output('t', 1020)).toEqual([{ t: 1, data: 'cat' }]);
  });

  it('hides typing that is never echoed once the window has passed', () => {
    const r = new InputRedactor(WINDOW);
    const password = 'hunter2';
    let now = 5000;
    for (const [i, ch] of [...password].entries()) {
      expect(r.input(5 + i * 0.1, ch, now)).toEqual([]);
      now += 100;
    }
    // The first keys' windows have passed, the last ones' not yet.
    const early = r.tick(5000 + WINDOW);
    expect(early).toEqual([{ t: 5, data: REDACTED, hidden: [1] }]);
    const rest = r.tick(now + WINDOW);
    expect(rest).toHaveLength(password.length - 1);
    for (const [i, e] of rest.entries()) expect(e).toEqual({ t: 5 + (i + 1) * 0.1, data: REDACTED, hidden: [1] });
    for (const e of [...early, ...rest]) expect(e.data).toBe(REDACTED);
  });

  it('waits for the window before deciding', () => {
    const r = new InputRedactor(WINDOW);
    r.input(1, 'x', 1000);
    expect(r.tick(1000 + WINDOW - 1)).toEqual([]);
    expect(r.tick(1000 + WINDOW)).toEqual([{ t: 1, data: REDACTED, hidden: [1] }]);
  });

  it('keeps Enter and control keys as they are', () => {
    const r = new InputRedactor(WINDOW);
    expect(r.input(1, '\r', 1000)).toEqual([{ t: 1, data: '\r' }]);
    expect(r.input(2, '\x03', 2000)).toEqual([{ t: 2, data: '\x03' }]);
    expect(r.input(3, '\x1b[A', 3000)).toEqual([{ t: 3, data: '\x1b[A' }]);
    expect(r.input(4, '\x7f', 4000)).toEqual([{ t: 4, data: '\x7f' }]);
    expect(r.input(5, '\t', 5000)).toEqual([{ t: 5, data: '\t' }]);
  });

  it('keeps control keys in order behind undecided typing', () => {
    const r = new InputRedactor(WINDOW);
    r.input(1, 'secret', 1000);
    expect(r.input(1.2, '\r', 1200)).toEqual([]);
    expect(r.tick(1000 + WINDOW)).toEqual([
      { t: 1, data: REDACTED, hidden: [6] },
      { t: 1.2, data: '\r' },
    ]);
  });

  it('keeps a pasted command with its Enter when the output echoes it', () => {
    const r = new InputRedactor(WINDOW);
    expect(r.input(1, 'ls\r', 1000)).toEqual([]);
    expect(r.output('ls\r\nbin  etc  home\r\n$ ', 1020)).toEqual([{ t: 1, data: 'ls\r' }]);
  });

  it('keeps typing echoed together with the response to the Enter that followed', () => {
    const r = new InputRedactor(WINDOW);
    r.input(1, 'l', 1000);
    r.input(1.01, 's', 1010);
    r.input(1.02, '\r', 1020);
    expect(r.output('ls\r\nbin  etc\r\n$ ', 1030)).toEqual([
      { t: 1, data: 'l' },
      { t: 1.01, data: 's' },
      { t: 1.02, data: '\r' },
    ]);
  });

  it('hides a password followed by output that does not contain it', () => {
    const r = new InputRedactor(WINDOW);
    r.input(1, 'hunter2\r', 1000);
    expect(r.output('\r\n', 1050)).toEqual([]);
    expect(r.output('total 0\r\n$ ', 1100)).toEqual([]);
    const out = r.tick(1000 + WINDOW);
    expect(out).toEqual([{ t: 1, data: REDACTED + '\r', hidden: [7] }]);
    expect(JSON.stringify(out)).not.toContain('hunter2');
  });

  it('hides a password typed key by key even when the command output right after Enter contains its letters', () => {
    // sudo: the prompt came before; the engineer types quickly and presses Enter, and the
    // command's output arrives within the echo window of the last keys.
    const r = new InputRedactor(WINDOW);
    const password = 'root';
    const decided: Array<{ t: number; data: string }> = [];
    let now = 1000;
    for (const ch of password) {
      decided.push(...r.input(now / 1000, ch, now));
      now += 60;
    }
    decided.push(...r.input(now / 1000, '\r', now));
    decided.push(...r.output('\r\n', now + 20));
    decided.push(...r.output('root@db01:~# ', now + 40));
    decided.push(...r.tick(now + 40 + WINDOW));
    expect(decided.map((e) => e.data)).toEqual([REDACTED, REDACTED, REDACTED, REDACTED, '\r']);
  });

  it("keeps commands typed ahead: an earlier Enter's newline is no boundary for them", () => {
    // Two commands typed before the first one's echo came back (a fast typist, or a paste).
    const r = new InputRedactor(WINDOW);
    expect(r.input(1, 'history -c', 1000)).toEqual([]);
    expect(r.input(1.01, '\r', 1010)).toEqual([]);
    expect(r.input(1.02, 'echo the-end', 1020)).toEqual([]);
    expect(r.input(1.03, '\r', 1030)).toEqual([]);
    const kept = [
      ...r.output('history -c\r\n\x1b[?2004l\r', 1040),
      ...r.output('\x1b[?2004htgt$ ', 1041),
      ...r.output('echo the-end\r\n\x1b[?2004l\r', 1042),
      ...r.output('the-end\r\n', 1043),
    ];
    expect(kept.map((e) => e.data)).toEqual(['history -c', '\r', 'echo the-end', '\r']);
    // And when each Enter passes straight through, its newline arrives later.
    const q = new InputRedactor(WINDOW);
    q.input(2, 'ls', 2000);
    expect(q.output('ls', 2010)).toEqual([{ t: 2, data: 'ls' }]);
    expect(q.input(2.1, '\r', 2100)).toEqual([{ t: 2.1, data: '\r' }]);
    q.input(2.11, 'pwd', 2110);
    expect(q.output('\r\na b\r\n$ pwd', 2120)).toEqual([{ t: 2.11, data: 'pwd' }]);
  });

  it('still hides a password whose text shows up only after its own Enter', () => {
    const r = new InputRedactor(WINDOW);
    r.input(1, 'sudo cat /etc/pw', 1000);
    r.input(1.1, '\r', 1100);
    r.output('sudo cat /etc/pw\r\n[sudo] password for alice: ', 1110);
    r.input(2, 's3cret', 2000);
    r.input(2.1, '\r', 2100);
    const later = [...r.output('\r\nroot:s3cret\r\n', 2150), ...r.tick(3000)];
    expect(later.map((e) => e.data)).toEqual([REDACTED, '\r']);
  });

  it('does not count output after the window as echo', () => {
    // The recorder ticks once a second: output that arrives after the window but
    // before the next tick must not confirm keys typed long before.
    const r = new InputRedactor(WINDOW);
    r.input(1, 'p', 1000);
    r.input(1.1, 'w', 1100);
    expect(r.output('a pwd prompt', 1000 + WINDOW + 500)).toEqual([
      { t: 1, data: REDACTED, hidden: [1] },
      { t: 1.1, data: REDACTED, hidden: [1] },
    ]);
  });

  it('flush() hides anything undecided', () => {
    const r = new InputRedactor(WINDOW);
    r.input(1, 'typed', 1000);
    r.input(1.1, '\x03', 1100);
    expect(r.flush()).toEqual([
      { t: 1, data: REDACTED, hidden: [5] },
      { t: 1.1, data: '\x03' },
    ]);
    expect(r.flush()).toEqual([]);
  });

  it('keeps control keys inside a hidden chunk', () => {
    const r = new InputRedactor(WINDOW);
    r.input(1, 'abc\x7fd\r', 1000);
    expect(r.flush()).toEqual([{ t: 1, data: `${REDACTED}\x7f${REDACTED}\r`, hidden: [3, 1] }]);
  });
});

describe('Recorder input events', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-redactor-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function key(): RecordingKey {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return { kid: 'k', privateKey, publicKey, fingerprint: keyFingerprint(publicKey), publicPem: '' };
  }

  it('records echoed typing, hides a password, and never writes time backwards', async () => {
    const store = new FileRecordingStore(dir);
    const rel = `${randomUUID()}.alr`;
    const files = await store.create(rel);
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    const rec = new Recorder({
      ...files,
      header: { recording: 'r', session: 's', kind: 'terminal', user: 'alice', target: 'db01', login: 'root', source: '192.0.2.7', cols: 80, rows: 24, term: 'xterm', command: null, approval: null, title: 'alice@db01' },
      ids: { session: randomUUID(), recording: randomUUID() },
      key: key(),
      clock,
      scheduler: clock,
      input: 'redacted',
      output: true,
      flushMs: 20,
      checkpointMs: 60_000,
    });
    // Moving the clock runs the flush ticks (every 20 ms) that decide typed keys whose echo window passed.
    const step = (ms: number) => clock.advance(ms);
    // "sudo -k ls" typed and echoed key by key.
    for (const ch of 'sudo ls') {
      rec.input(Buffer.from(ch));
      step(30);
      rec.output(Buffer.from(ch));
      step(70);
    }
    rec.input(Buffer.from('\r'));
    step(10);
    rec.output(Buffer.from('\r\n[sudo] password for alice: '));
    step(500);
    // The password: never echoed.
    for (const ch of 'S3cret!') {
      rec.input(Buffer.from(ch));
      step(120);
    }
    step(WINDOW);
    rec.input(Buffer.from('\r'));
    step(5);
    rec.output(Buffer.from('\r\nbin  etc  home\r\n$ '));
    // Input decided late (echo arriving after more output) keeps its own time unless that goes backwards.
    rec.input(Buffer.from('x'));
    step(200);
    rec.output(Buffer.from('\x1b[32mgreen\x1b[0m '));
    step(50);
    rec.output(Buffer.from('x'));
    step(50);
    rec.resize(100, 30);
    rec.marker('approval granted');
    rec.input(Buffer.from('unfinished'));
    await rec.close();

    const file = await store.read(rel);
    expect(file.includes('S3cret!')).toBe(false);
    expect(file.includes('unfinished')).toBe(false);
    const cast = { events: eventsOf(file) };
    // What was hidden is counted, byte for byte.
    expect(framesOf(file).frames.filter((f) => f.type === Frame.Hidden).reduce((n, f) => n + f.payload.readUInt32BE(0), 0)).toBe('S3cret!'.length + 'unfinished'.length);
    const times = cast.events.map((e) => e[0]);
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThanOrEqual(times[i - 1] as number);
    const inputs = cast.events.filter((e) => e[1] === 'i').map((e) => e[2]);
    expect(inputs.join('')).toBe('sudo ls\r' + REDACTED.repeat(7) + '\r' + 'x' + REDACTED);
    // Output is never touched.
    const outputs = cast.events.filter((e) => e[1] === 'o').map((e) => e[2]);
    expect(outputs.join('')).toBe('sudo ls\r\n[sudo] password for alice: \r\nbin  etc  home\r\n$ \x1b[32mgreen\x1b[0m x');
    expect(cast.events).toContainEqual([expect.any(Number), 'r', '100x30']);
    expect(cast.events).toContainEqual([expect.any(Number), 'm', 'approval granted']);
  });
});
