import { FrameEvents } from '../../recordings/frame-events.js';
import { FrameParser, parseHeader } from '../../recordings/frame-format.js';
import type { ParsedFrame, RecordingHeader } from '../../recordings/frame-format.js';
import type { EventCode } from '../../recordings/asciicast.js';

/** Every whole frame of a recording in airlock's format, in one go (tests only: real readers stream). */
export function framesOf(file: Uint8Array): { header: RecordingHeader; frames: ParsedFrame[]; torn: number } {
  const parser = new FrameParser();
  const frames: ParsedFrame[] = [];
  parser.push(file, (f) => void frames.push({ ...f, payload: Buffer.from(f.payload) }));
  const first = frames.shift();
  if (!first) throw new Error('no header frame');
  return { header: parseHeader(first), frames, torn: parser.pending };
}

/** The recording as the events a player sees (recordings/frame-events.ts). */
export function eventsOf(file: Uint8Array): Array<[number, EventCode, string]> {
  const { frames } = framesOf(file);
  const view = new FrameEvents();
  const out: Array<[number, EventCode, string]> = [];
  const emit = (t: number, code: EventCode, data: string) => void out.push([t, code, data]);
  for (const f of frames) view.push(f, emit);
  view.end(emit);
  return out;
}

/** The payloads of one frame type, joined: a direction's bytes exactly as recorded. */
export function bytesOf(file: Uint8Array, type: number): Buffer {
  return Buffer.concat(framesOf(file).frames.filter((f) => f.type === type).map((f) => f.payload));
}
