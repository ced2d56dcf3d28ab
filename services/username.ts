// What a username may be, and when two names are one user: used by the login route (the rule), the session store
// (one index per user) and the error text.

/** The most combining marks one character may carry: enough for any script's accents, not for a pile of them. */
export const MAX_MARKS = 4
const LETTER = `(?:[\\p{L}\\p{N}._@-]\\p{M}{0,${MAX_MARKS}})`

/**
 * Letters (any script, each with at most MAX_MARKS combining marks) and digits and . _ @ -, with single inner
 * spaces allowed: no control or format characters (bidi overrides, zero-width joiners), no leading or trailing
 * space, no pile of marks on one character (it draws over the lines around it), and nothing invisible
 * (Default_Ignorable_Code_Point: fillers such as U+3164 and U+115F are letters, U+034F a mark, yet they show as
 * nothing, so "alice" plus one of them would pass for alice).
 */
export const USERNAME = '^(?!.*\\p{Default_Ignorable_Code_Point})' +
  `${LETTER}+(?: ${LETTER}+)*$`

/** One spelling per name: "é" typed as e + U+0301 is the same user as the precomposed "é". */
export function normaliseUsername (raw: unknown): unknown {
  return typeof raw === 'string' ? raw.normalize('NFC') : raw
}

/**
 * What names a user (sessions listed and ended together), while the name is shown as typed: compatibility forms
 * folded (NFKC: "ﬁx" is "fix", fullwidth "ａｌｉｃｅ" is "alice"), then case (upper then lower folds "ß" into "ss"
 * and final "ς" into "σ", as full case folding does), so that look-alike spellings are one user, not two.
 */
export function usernameSkeleton (name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC')
}
