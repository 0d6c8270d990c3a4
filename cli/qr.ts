import QRCode from 'qrcode';

/**
 * An otpauth:// URI as a QR code drawn with block characters, for an
 * authenticator app to scan off the terminal (what `google-authenticator` and
 * most set-up tools print). Half-height blocks keep it to ~25 lines.
 */
export function terminalQr(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'terminal', small: true, errorCorrectionLevel: 'L' });
}
