// The username rule on its own: what the login's JSON schema checks, after normalisation (routes/pages.ts).
import t from 'tap'
import { headerText } from '../../services/routes/pages.ts'
import { MAX_MARKS, normaliseUsername, USERNAME, usernameSkeleton } from '../../services/username.ts'

// As the schema validator compiles a pattern (ajv: Unicode mode), applied to what is stored.
const rule = new RegExp(USERNAME, 'u')
const accepted = (raw: string): boolean => {
  const stored = normaliseUsername(raw) as string
  return rule.test(stored) && [...stored].length <= 64
}

t.test('names people have pass, stored precomposed', async t => {
  for (const name of ['alice', 'Zoë Martin', 'josé.o_b@x-y', '日本語', 'Ωμέγα', 'e\u0301'.repeat(64)]) {
    t.ok(accepted(name), JSON.stringify(name))
  }
  t.equal(normaliseUsername('e\u0301'), '\u00E9')
})

t.test('invisible characters never pass, wherever they stand', async t => {
  // Default_Ignorable_Code_Point: letters and marks that show as nothing, and format characters.
  for (const invisible of ['\u3164', '\u115F', '\u1160', '\uFFA0', '\u034F', '\u200B', '\u200D', '\u00AD', '\u2060', '\uFE0F']) {
    for (const name of [`${invisible}alice`, `ali${invisible}ce`, `alice${invisible}`]) {
      t.notOk(accepted(name), `U+${invisible.codePointAt(0)!.toString(16).toUpperCase()} in ${JSON.stringify(name)}`)
    }
  }
})

t.test('the length is that of the normalised name: U+FB2C is three code points once stored', async t => {
  t.equal([...(normaliseUsername('\uFB2C') as string)].length, 3)
  t.notOk(accepted('\uFB2C'.repeat(64)), '64 typed, 192 stored: refused')
  t.ok(accepted('\uFB2C'.repeat(21)), '21 typed, 63 stored: accepted')
})

t.test('a user agent sent as UTF-8 bytes reads as the browser wrote it; other bytes stay as they are', async t => {
  t.equal(headerText(Buffer.from('Zoë ✓', 'utf8').toString('latin1')), 'Zoë ✓')
  t.equal(headerText('caf\u00E9'), 'caf\u00E9', 'not valid UTF-8: kept as latin1')
  t.equal(headerText('Mozilla/5.0'), 'Mozilla/5.0')
})

t.test('one user however the name is spelled: compatibility forms and case fold to one skeleton', async t => {
  for (const [typed, plain] of [['ﬁx', 'fix'], ['ａｌｉｃｅ', 'alice'], ['ＡＬＩＣＥ', 'alice'], ['Alice', 'alice'], ['straße', 'STRASSE'],
    ['ΟΔΥΣΣΕΥΣ', 'οδυσσευς'], ['①', '1'], ['e\u0301', 'É']] as const) {
    t.equal(usernameSkeleton(normaliseUsername(typed) as string), usernameSkeleton(plain), `${typed} is ${plain}`)
  }
  t.not(usernameSkeleton('alice'), usernameSkeleton('alicf'), 'different names stay different')
})

t.test('combining marks: a few per character, never a pile', async t => {
  const marks = '\u0300\u0301\u0302\u0303\u0304\u0305'
  t.ok(accepted(`x${marks.slice(0, MAX_MARKS)}yz`), `${MAX_MARKS} marks on one letter`)
  t.notOk(accepted(`x${marks.slice(0, MAX_MARKS + 1)}yz`), `${MAX_MARKS + 1} refused`)
  t.ok(accepted('क्षत्रिय'), 'Devanagari conjuncts and vowel signs')
  t.ok(accepted('Tiếng Việt'), 'Vietnamese, two marks on a letter')
  t.notOk(accepted('\u0301alice'), 'a mark cannot stand first')
})
