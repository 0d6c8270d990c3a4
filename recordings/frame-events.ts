import { StringDecoder } from 'node:string_decoder';
import type { EventCode } from './asciicast.js';
import { Frame } from './frame-format.js';
import type { ParsedFrame, RecordingHeader } from './frame-format.js';
import { REDACTED } from './redactor.js';

/**
 * Frames (recordings/FORMAT.md) as the events a terminal player and the
 * analysis understand: asciicast v2's [seconds, code, text]. This is a view for
 * people and programs that show text: output is decoded as UTF-8 (a stream at
 * a time, so a character split between frames comes out whole; invalid bytes
 * become U+FFFD as a terminal shows them), NUL bytes are left out and counted in
 * a marker (a terminal shows nothing for them), stderr is output with markers
 * where the stream switches, a hidden run of typed keys is the REDACTED text.
 * The stored frames stay byte-exact; nothing here changes them.
 */
export type EventSink = (t: number, code: EventCode, data: string, offset: number) => void;

const NUL = /\u0000/g;

export class FrameEvents {
  readonly #out = new StringDecoder('utf8');
  readonly #err = new StringDecoder('utf8');
  readonly #in = new StringDecoder('utf8');
  #stream: 'stdout' | 'stderr' = 'stdout';
  #nuls = 0;
  #lastT = 0;
  #lastOffset = 0;

  /** Events of one frame (none for the header, or for bytes that show nothing yet). */
  push(f: ParsedFrame, emit: EventSink): void {
    if (f.flags !== 0) return; // flags a reader of version 1 does not know: an optional frame of a later version
    const t = f.time / 1000;
    this.#lastT = t;
    this.#lastOffset = f.offset;
    switch (f.type) {
      case Frame.Output:
        this.#switchTo('stdout', t, f.offset, emit);
        this.#text(t, this.#out.write(f.payload), f.offset, emit);
        break;
      case Frame.Stderr:
        this.#switchTo('stderr', t, f.offset, emit);
        this.#text(t, this.#err.write(f.payload), f.offset, emit);
        break;
      case Frame.Input: {
        const text = this.#in.write(f.payload);
        if (text) emit(t, 'i', text, f.offset);
        break;
      }
      case Frame.Hidden:
        emit(t, 'i', REDACTED, f.offset);
        break;
      case Frame.Resize:
        if (f.payload.length >= 4) emit(t, 'r', `${f.payload.readUInt16BE(0)}x${f.payload.readUInt16BE(2)}`, f.offset);
        break;
      case Frame.Marker:
        emit(t, 'm', f.payload.toString('utf8'), f.offset);
        break;
      default:
        break; // the header, and frame types of later versions
    }
  }

  /** At the end of the file: what the decoders still hold, and the NUL count. */
  end(emit: EventSink): void {
    this.#text(this.#lastT, this.#out.end(), this.#lastOffset, emit);
    this.#text(this.#lastT, this.#err.end(), this.#lastOffset, emit);
    this.#countNuls(emit);
  }

  #switchTo(stream: 'stdout' | 'stderr', t: number, offset: number, emit: EventSink): void {
    if (this.#stream === stream) return;
    this.#stream = stream;
    emit(t, 'm', stream, offset);
  }

  #text(t: number, text: string, offset: number, emit: EventSink): void {
    if (!text) return;
    if (text.includes('\u0000')) {
      const before = text.length;
      text = text.replace(NUL, '');
      this.#nuls += before - text.length;
    }
    if (text) emit(t, 'o', text, offset);
  }

  #countNuls(emit: EventSink): void {
    if (this.#nuls === 0) return;
    emit(this.#lastT, 'm', `${this.#nuls} NUL byte${this.#nuls === 1 ? '' : 's'} of output not shown (a terminal shows nothing for them; the recording has them)`, this.#lastOffset);
    this.#nuls = 0;
  }
}

/** The asciicast v2 header line for a recording's header frame. */
export function castHeaderOf(h: RecordingHeader): Record<string, unknown> {
  return {
    version: 2,
    width: h.cols,
    height: h.rows,
    timestamp: Math.floor(h.start / 1000),
    title: h.title,
    env: { TERM: h.term, SHELL: '/bin/sh' },
    airlock: {
      recording: h.recording,
      session: h.session,
      kind: h.kind,
      user: h.user,
      target: h.target,
      login: h.login,
      source: h.source,
      ...(h.approval ? { approval: h.approval } : {}),
      ...(h.command !== null ? { command: h.command } : {}),
      format: 'exported from airlock recording format 1',
    },
  };
}
