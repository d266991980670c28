/**
 * The one glob dialect for paths billwatch matches in JavaScript (picomatch, the matcher behind most of the
 * JavaScript tool chain): `*` within one name, `**` across directories, `?`, `[abc]` and `{a,b}` as in a shell;
 * names starting with a dot are matched like any other (an /etc file such as `.etckeeper` is a file to rank).
 */
import picomatch from 'picomatch'

const compiled = new Map<string, (path: string) => boolean>()

/** Whether `path` (relative, `/`-separated) matches `glob`. */
export function globMatch(glob: string, path: string): boolean {
  let matcher = compiled.get(glob)
  if (!matcher) {
    matcher = picomatch(glob, {dot: true})
    compiled.set(glob, matcher)
  }
  return matcher(path)
}
