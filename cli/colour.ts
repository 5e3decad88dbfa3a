// Colour for the CLI's own words, used sparingly: the error prefix red, option names and
// "did you mean" bold. Only on a terminal, never with NO_COLOR set (https://no-color.org);
// FORCE_COLOR (other than 0 / false) turns it on where NO_COLOR is unset, even in a pipe.

type Stream = { isTTY?: boolean };

/** whether text written to `stream` may carry colour */
export function colourOn(stream: Stream = process.stderr): boolean {
  const env = process.env;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  return Boolean(stream.isTTY);
}

const paint = (open: string, close: string) => (s: string, stream: Stream = process.stderr) => (colourOn(stream) ? `\x1b[${open}m${s}\x1b[${close}m` : s);

/** red text (the error prefix) */
export const red = paint('31', '39');
/** bold text (option names in help, "did you mean") */
export const bold = paint('1', '22');
