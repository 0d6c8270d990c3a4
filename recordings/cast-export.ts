import { AirlockError } from '../core/pure.js';
import { eventLine } from './asciicast.js';
import { FrameEvents, castHeaderOf } from './frame-events.js';
import { Frame, FrameParser, parseHeader } from './frame-format.js';
import type { RecordingHeader } from './frame-format.js';

/**
 * asciicast v2 from a recording in airlock's format, as it streams: the header
 * line, then one event line per frame that shows something (frame-events.ts).
 * `asciinema play` and `asciinema cat` read it; the replay API and the evidence
 * bundle use it too. Memory stays at one frame and one batch of lines, whatever
 * the size of the recording.
 */
const BATCH = 256 * 1024;

export async function* castFromFrames(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Buffer> {
  const parser = new FrameParser();
  const events = new FrameEvents();
  let header: RecordingHeader | undefined;
  let out: string[] = [];
  let size = 0;
  let lastT = 0;
  const emit = (t: number, code: 'o' | 'i' | 'r' | 'm', data: string) => {
    lastT = Math.max(lastT, t);
    const line = eventLine(lastT, code, data);
    out.push(line);
    size += line.length;
  };
  for await (const chunk of chunks) {
    parser.push(chunk, (f) => {
      if (!header) {
        header = parseHeader(f);
        const line = JSON.stringify(castHeaderOf(header)) + '\n';
        out.push(line);
        size += line.length;
        return;
      }
      if (f.type !== Frame.Header) events.push(f, emit);
    });
    if (size >= BATCH) {
      yield Buffer.from(out.join(''), 'utf8');
      out = [];
      size = 0;
    }
  }
  if (!header) throw new AirlockError('ERR_RECORDING_FORMAT', 'the recording has no header frame');
  events.end(emit);
  if (parser.pending > 0) emit(lastT, 'm', `the recording ends in a torn frame (${parser.pending} bytes): it was cut off, e.g. by a crash`);
  if (out.length) yield Buffer.from(out.join(''), 'utf8');
}
