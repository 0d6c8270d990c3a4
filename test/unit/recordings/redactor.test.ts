import { describe, it, expect, afterAll } from 'vitest';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRevealKey, revealRecording } from '../../../recordings/sealing.js';
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

/** A redactor driven the way the frame writer drives it, with output chunks as the queued items. */
class Driver {
  readonly r = new InputRedactor(WINDOW);
  /** What was written, in order: ['i', keys] / ['h', hidden runs] / ['o', output]. */
  readonly written: Array<[string, string]> = [];
  now = 1000;

  type(data: string, t = this.now / 1000): this {
    this.r.input(t, data, this.now);
    return this.drain();
  }

  out(text: string): this {
    if (!this.r.output(text, this.now, text)) this.written.push(['o', text]);
    return this.drain();
  }

  wait(ms: number): this {
    this.now += ms;
    return this.drain();
  }

  drain(now = this.now): this {
    for (const d of this.r.drain<string>(now)) {
      if ('item' in d) this.written.push(['o', d.item]);
      else if (d.key.sealed) this.written.push(['h', d.key.sealed.join('|')]);
      else this.written.push(['i', d.key.data]);
    }
    return this;
  }

  end(): this {
    return this.drain(Number.POSITIVE_INFINITY);
  }

  kept(): string {
    return this.written.filter(([k]) => k === 'i').map(([, v]) => v).join('');
  }

  hidden(): string[] {
    return this.written.filter(([k]) => k === 'h').map(([, v]) => v);
  }

  /** Types text key by key, each echoed as `echo(key)` shows it. */
  typeEchoed(text: string, echo: (key: string) => string = (k) => k): this {
    for (const ch of text) this.type(ch).wait(3).out(echo(ch)).wait(150);
    return this;
  }
}

describe('InputRedactor', () => {
  it('keeps typing that the target echoes, each key decided by its echo, written before it', () => {
    const d = new Driver().typeEchoed('ls');
    expect(d.written).toEqual([
      ['i', 'l'],
      ['o', 'l'],
      ['i', 's'],
      ['o', 's'],
    ]);
    expect(d.r.waiting).toBe(false);
  });

  it('keeps echo that arrives in pieces, after escape sequences', () => {
    const d = new Driver().type('cat').out('\x1b[1mca');
    expect(d.written).toEqual([]);
    d.out('t');
    expect(d.written).toEqual([
      ['i', 'cat'],
      ['o', '\x1b[1mca'],
      ['o', 't'],
    ]);
  });

  it('hides typing that is never echoed once its window has passed, and not before', () => {
    const d = new Driver().type('x');
    d.wait(WINDOW - 1);
    expect(d.written).toEqual([]);
    d.wait(1);
    expect(d.hidden()).toEqual(['x']);
  });

  it('keeps Enter and control keys as they are, in order behind undecided typing', () => {
    const d = new Driver();
    for (const k of ['\r', '\x03', '\x1b[A', '\x7f', '\t']) d.type(k);
    expect(d.kept()).toBe('\r\x03\x1b[A\x7f\t');
    d.type('secret').type('\r');
    expect(d.written.slice(5)).toEqual([]);
    d.wait(WINDOW);
    expect(d.written.slice(5)).toEqual([
      ['h', 'secret'],
      ['i', '\r'],
    ]);
  });

  it('keeps typing after a line abandoned with Ctrl-C and a correction with Backspace', () => {
    // What bash shows: ^C and a new line for Ctrl-C; "\b \b" (or "\b\x1b[K") for Backspace.
    const d = new Driver().out('$ ');
    d.typeEchoed('echo abandoned');
    d.type('\x03').out('^C\r\n$ ');
    d.typeEchoed('lss');
    d.type('\x7f').out('\b\x1b[K');
    d.typeEchoed(' /nonexistent-dir; true');
    d.type('\r').out('\r\nls: cannot access\r\n$ ');
    d.typeEchoed('echo after');
    d.end();
    expect(d.hidden()).toEqual([]);
    expect(d.kept()).toBe('echo abandoned\x03lss\x7f /nonexistent-dir; true\recho after');
  });

  it('keeps a pasted line longer than the terminal, echoed with a return at the wrap', () => {
    const line = 'echo ' + 'x'.repeat(100) + ' >> ~/.ssh/authorized_keys';
    const d = new Driver().out('$ ');
    d.type(`\x1b[200~${line}\x1b[201~`).wait(5);
    // readline at 80 columns: the text up to the margin, " \r", the rest.
    d.out(line.slice(0, 78) + ' \r' + line.slice(78)).end();
    expect(d.hidden()).toEqual([]);
    expect(d.kept()).toBe(`\x1b[200~${line}\x1b[201~`);
  });

  it('keeps mid-line insertion (the rest of the line redrawn), reverse search and history recall', () => {
    const d = new Driver().out('$ ');
    d.typeEchoed('ech hi');
    d.type('\x1b[D\x1b[D\x1b[D').out('\b\b\b');
    d.type('o').out('o hi\b\b\b');
    d.type('\x12').out('\r\n(reverse-i-search)`\': ');
    d.type('e').out('\x1b[1@e\x1b[C\x1b[C\x1b[Cecho hi');
    d.type('\x1b[A').out('\r$ echo hi');
    d.end();
    expect(d.hidden()).toEqual([]);
    expect(d.kept()).toBe('ech hi\x1b[D\x1b[D\x1b[Do\x12e\x1b[A');
  });

  it('seals keys at a secret prompt even when other output holds their characters', () => {
    const d = new Driver().out('\r\n[sudo] password for alice: ');
    d.type('s').out('background output with s');
    d.type('3').out('and 3');
    d.type('\r').out('\r\n');
    expect(d.hidden()).toEqual(['s', '3']);
    expect(d.kept()).toBe('\r');
  });

  it('asks again after a wrong password, and judges keys typed ahead after Enter by their echo', () => {
    const d = new Driver().out('Password: ');
    d.type('bad').type('\r');
    // Typed ahead before sudo printed its newline: not at the prompt any more.
    d.type('l').out('l');
    d.out('\r\nSorry, try again.\r\n[sudo] password for alice: ');
    d.type('good').type('\r').out('\r\n');
    d.end();
    expect(d.hidden()).toEqual(['bad', 'good']);
    expect(d.kept()).toBe('\rl\r');
  });

  it('seals what is typed after stty -echo, and keeps the Enter', () => {
    const d = new Driver().out('$ ');
    d.type('i').type('d').type('\r').out('uid=1000(alice)\r\n$ ');
    d.end();
    expect(d.hidden()).toEqual(['i', 'd']);
    expect(d.kept()).toBe('\r');
  });

  it('keeps a wrapped line pasted with its Enter, whose echo comes after the Enter', () => {
    const line = 'echo ' + 'y'.repeat(90) + '; history -c';
    const d = new Driver().out('$ ');
    d.type(line + '\r').wait(5).out(line.slice(0, 78) + ' \r' + line.slice(78) + '\r\n$ ').end();
    expect(d.hidden()).toEqual([]);
  });

  it('never takes the output after Enter for the echo of the rest of a line some of whose keys were hidden', () => {
    // a, b hidden at their deadlines; the lone d must not match the d of "accepted".
    const d = new Driver().out('$ ');
    d.type('a').wait(WINDOW).type('b').wait(WINDOW).type('d').type('\r').out('accepted\r\n$ ').end();
    expect(d.hidden()).toEqual(['a', 'b', 'd']);
  });

  it('hides keys typed before a secret prompt showed (sudo turned echo off first), not judged by the prompt text', () => {
    const d = new Driver().out('$ ');
    d.typeEchoed('sudo -k id').type('\r').out('\r\n');
    d.type('h').type('u').type('e');
    d.out('[sudo] password for alice: ').type('\r').out('\r\nuid=0(root)\r\n$ ').end();
    expect(d.hidden()).toEqual(['h', 'u', 'e']);
  });

  it('stays at a secret prompt while other output prints lines, until Enter', () => {
    const d = new Driver().out('Password: ');
    d.type('x').out('\r\n[1]+  Done   sleep 1\r\n');
    d.type('y').out('y appears in this background line\r\n');
    d.type('\r').end();
    expect(d.hidden()).toEqual(['x', 'y']);
  });

  it('judges each line of a multi-line paste on its own', () => {
    const d = new Driver().out('$ ');
    d.type('ls\rwhoami\r').out('ls\r\nfile\r\n$ whoami\r\nalice\r\n$ ').end();
    expect(d.hidden()).toEqual([]);
    expect(d.kept()).toBe('ls\rwhoami\r');
  });

  it('decides a key at once when output went far past where its echo could be', () => {
    const d = new Driver().out('$ ');
    d.type('q').out('y'.repeat(3000));
    expect(d.hidden()).toEqual(['q']);
  });

  it('keeps cursor keys in application mode (ESC O A, as zsh asks for them) as control keys, also inside a hidden chunk', () => {
    const d = new Driver().type('\x1bOA').type('\x1bOD');
    expect(d.written).toEqual([
      ['i', '\x1bOA'],
      ['i', '\x1bOD'],
    ]);
    const e = new Driver().type('ab\x1bODc').end();
    expect(e.written).toEqual([['h', 'ab|c']]);
    expect(e.r).toBeDefined();
  });

  it('keeps control keys inside a hidden chunk, and seals the runs between them', () => {
    const d = new Driver().type('abc\x7fd').end();
    expect(d.written).toEqual([['h', 'abc|d']]);
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

describe('sealed input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sealed-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('seals a password to the reveal key: the key reveals it, another key does not, and Debian age opens it offline', async () => {
    const { identity, recipient } = await createRevealKey();
    const other = await createRevealKey();
    const store = new FileRecordingStore(dir);
    const rel = `${randomUUID()}.alr`;
    const files = await store.create(rel);
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const rec = new Recorder({
      ...files,
      header: { recording: 'r', session: 's', kind: 'terminal', user: 'alice', target: 'db01', login: 'root', source: '192.0.2.7', cols: 80, rows: 24, term: 'xterm', command: null, approval: null, title: 'alice@db01' },
      ids: { session: randomUUID(), recording: randomUUID() },
      key: { kid: 'k', privateKey, publicKey, fingerprint: keyFingerprint(publicKey), publicPem: '' },
      clock,
      scheduler: clock,
      input: 'redacted',
      output: true,
      revealRecipients: [recipient, other.recipient],
      flushMs: 20,
      checkpointMs: 60_000,
    });
    rec.output(Buffer.from('$ '));
    for (const ch of 'sudo -k id') {
      rec.input(Buffer.from(ch));
      rec.output(Buffer.from(ch));
      clock.advance(100);
    }
    rec.input(Buffer.from('\r'));
    rec.output(Buffer.from('\r\n[sudo] password for alice: '));
    clock.advance(300);
    for (const ch of 'pa55w\u00f6rd') {
      rec.input(Buffer.from(ch));
      clock.advance(120);
    }
    rec.input(Buffer.from('\r'));
    rec.output(Buffer.from('\r\nuid=0(root)\r\n$ '));
    clock.advance(2000);
    await rec.close();

    const file = await store.read(rel);
    expect(file.includes(Buffer.from('pa55'))).toBe(false);
    expect(file.includes(Buffer.from('w\u00f6rd'))).toBe(false);
    const sealed = framesOf(file).frames.filter((f) => f.type === Frame.Sealed);
    expect(sealed).toHaveLength(1);

    const path = join(dir, rel);
    const report = await revealRecording(path, identity);
    expect(report.unsealed).toBe(0);
    expect(report.inputs.map((i) => i.text).join('')).toBe('pa55w\u00f6rd');
    expect(report.inputs).toHaveLength(8); // one hidden run per key typed
    for (const i of report.inputs) expect(i.t).toBeGreaterThan(1);
    // The second recipient opens it too; a key it was not sealed to does not, and says so without the key.
    expect((await revealRecording(path, other.identity)).inputs).toHaveLength(8);
    const stranger = (await createRevealKey()).identity;
    await expect(revealRecording(path, stranger)).rejects.toMatchObject({ code: 'ERR_REVEAL_KEY_WRONG' });
    await expect(revealRecording(path, 'not a key')).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });

    // Offline, with nothing of airlock: the sealed frame's payload is an age file.
    const idFile = join(dir, 'reveal.key');
    writeFileSync(idFile, identity + '\n', { mode: 0o600 });
    const payload = (sealed[0] as { payload: Buffer }).payload;
    expect(payload.readUInt32BE(0)).toBe(8); // the hidden runs it covers
    const plain = execFileSync('age', ['-d', '-i', idFile], { input: payload.subarray(4) });
    expect(plain.toString('utf8')).toBe('pa55w\u00f6rd');
    const strangerFile = join(dir, 'stranger.key');
    writeFileSync(strangerFile, stranger + '\n', { mode: 0o600 });
    expect(() => execFileSync('age', ['-d', '-i', strangerFile], { input: payload.subarray(4), stdio: 'pipe' })).toThrow();
  });
});
