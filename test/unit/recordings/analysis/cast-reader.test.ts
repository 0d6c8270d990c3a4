import { describe, it, expect } from 'vitest';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { analyseCast, analyseFile } from '../../../../recordings/analysis/index.js';
import { eventLine } from '../../../../recordings/asciicast.js';
import { isAirlockError } from '../../../../core/errors.js';
import { analyse, eventAt, expectLineStart, LS_COLOUR, PROMPT, Session, texts } from './helpers.js';

function* chunked(bytes: Buffer, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield new Uint8Array(bytes.subarray(i, i + size));
}

describe('reading a recording', () => {
  const sample = (): Session =>
    new Session()
      .out('Bienvenue, café ☕ 日本語\r\n' + PROMPT)
      .run('echo ünïcödé', 'ünïcödé\r\n')
      .run('ls', LS_COLOUR)
      .event('m', 'a marker')
      .event('r', '100x30')
      .run('cat notes-日本.txt', 'ok\r\n');

  it("treats a header without airlock.kind as a terminal recording", async () => {
    const cast = JSON.stringify({ version: 2, width: 80, height: 24 }) + '\n' + eventLine(0.1, 'o', PROMPT) + eventLine(0.2, 'i', 'w') + eventLine(0.3, 'o', 'w') + eventLine(0.4, 'i', '\r');
    const r = await analyse(cast);
    expect(r.kind).toBe('terminal');
    expect(texts(r)).toEqual(['w']);
  });

  it('gives the same result however the file is cut into chunks, with byte offsets', async () => {
    const bytes = sample().bytes();
    const whole = await analyseCast([bytes], { keyframeBytes: 50 });
    expect(texts(whole)).toEqual(['echo ünïcödé', 'ls', 'cat notes-日本.txt']);
    for (const size of [1, 3, 7, 64, 4096]) {
      expect(await analyseCast(chunked(bytes, size), { keyframeBytes: 50 })).toEqual(whole);
    }
    for (const c of whole.commands) {
      expectLineStart(bytes, c.castOffset);
      expect(eventAt(bytes, c.castOffset)).toEqual([c.t, 'i', '\r']);
    }
    for (const kf of whole.keyframes) expectLineStart(bytes, kf.castOffset);
  });

  it('accepts an async iterable, and a file', async () => {
    const bytes = sample().bytes();
    async function* slowly(): AsyncGenerator<Uint8Array> {
      for (const c of chunked(bytes, 100)) {
        await new Promise((r) => setImmediate(r));
        yield c;
      }
    }
    const whole = await analyseCast([bytes]);
    expect(await analyseCast(slowly())).toEqual(whole);
    const dir = mkdtempSync(join(tmpdir(), 'airlock-analysis-'));
    try {
      const path = join(dir, 'session.cast');
      writeFileSync(path, bytes);
      expect(await analyseFile(path)).toEqual(whole);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops at a torn last line and keeps what came before', async () => {
    const complete = sample().text();
    const torn = complete + '[9.5, "o", "half a li';
    const r = await analyse(torn);
    const full = await analyse(complete);
    expect(r.truncated).toBe(true);
    expect(full.truncated).toBe(false);
    expect({ ...r, truncated: false }).toEqual(full);
    // A torn multi-byte character too.
    const cut = Buffer.concat([Buffer.from(complete), Buffer.from('[9.5, "o", "日本').subarray(0, 16)]);
    expect((await analyseCast([cut])).truncated).toBe(true);
  });

  it('reads a last line that only lacks its newline', async () => {
    const text = new Session().out(PROMPT).type('ls').text() + '[9.5, "i", "\\r"]';
    const r = await analyse(text);
    expect(r.truncated).toBe(false);
    expect(texts(r)).toEqual(['ls']);
    expect(r.duration).toBe(9.5);
  });

  it('stops at a line that is not an event, even before the end', async () => {
    const s = new Session().out(PROMPT).run('whoami', 'user\r\n');
    const r = await analyse(s.text() + '{"not": "an event"}\n' + eventLine(20, 'o', 'later'));
    expect(r.truncated).toBe(true);
    expect(r.duration).toBeCloseTo(s.t, 6);
    expect(texts(r)).toEqual(['whoami']);
  });

  it('handles an empty file, a torn header, and refuses what is no recording', async () => {
    expect(await analyseCast([])).toMatchObject({ kind: 'terminal', commands: [], keyframes: [], events: 0, truncated: false });
    expect(await analyse('{"version": 2, "wid')).toMatchObject({ commands: [], keyframes: [], events: 0, truncated: true });
    for (const text of ['hello world\n[0.1, "o", "x"]\n', '{"version": 1, "width": 80}\n', '[0.1, "o", "x"]\n']) {
      await expect(analyse(text)).rejects.toSatisfy((e: unknown) => isAirlockError(e, 'ERR_RECORDING_FORMAT'));
    }
  });

  it('streams a 20 MB recording without holding it', async () => {
    // A forced GC after each chunk (v8 lets a running process expose it) keeps
    // garbage from hiding what is really held; a warm-up run grows the heap first.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const dir = mkdtempSync(join(tmpdir(), 'airlock-analysis-'));
    try {
      const path = join(dir, 'big.cast');
      const out = createWriteStream(path);
      out.write(new Session({ cols: 120, rows: 40 }).text());
      let t = 0;
      let written = 0;
      let command = 0;
      while (written < 20e6) {
        let block = '';
        for (let i = 0; i < 100; i++) {
          const line = `-rw-r--r-- 1 user staff ${String(written % 99991).padStart(6)} Jan  1 12:00 \x1b[01;32mfile_${written}.txt\x1b[0m and some more text\r\n`;
          written += Buffer.byteLength(line);
          t += 0.001;
          block += eventLine(t, 'o', line);
        }
        if (written > command * 2e6) {
          // As the recorder writes a pasted command: echo, keys, Enter.
          command++;
          const typed = `ls -l /srv/${command}`;
          block += eventLine(t, 'o', PROMPT + typed) + eventLine(t, 'i', typed) + eventLine(t, 'i', '\r') + eventLine(t, 'o', '\r\n');
        }
        if (!out.write(block)) await once(out, 'drain');
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      const size = statSync(path).size;
      expect(size).toBeGreaterThan(20e6);

      await analyseFile(path, {}); // warm-up
      gc();
      const before = process.memoryUsage();
      let rss = before.rss;
      let live = 0;
      async function* measured(): AsyncGenerator<Uint8Array> {
        for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
          yield chunk as Buffer;
          gc();
          const m = process.memoryUsage();
          rss = Math.max(rss, m.rss);
          live = Math.max(live, m.heapUsed + m.arrayBuffers - before.heapUsed - before.arrayBuffers);
        }
      }
      const r = await analyseCast(measured());
      expect(r.outputBytes).toBeGreaterThanOrEqual(20e6);
      expect(r.truncated).toBe(false);
      expect(texts(r)).toEqual(Array.from({ length: command }, (_, i) => `ls -l /srv/${i + 1}`));
      expect(r.keyframes.length).toBeGreaterThan(70); // every 256 KiB
      // Holding the file would take ≥ its size (more as strings); streaming takes a few MB.
      expect(live).toBeLessThan(size / 2);
      expect(rss - before.rss).toBeLessThan(size);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
