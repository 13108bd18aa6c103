/**
 * Chat-template rendering details transformers' environment has: `strftime_now` in the C locale,
 * `tools` / `documents` as None, and the end of a continued final message found with a tag.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ChatTemplate, strftimeNow } from '../../ts/generation/chat.js';
import { Tokenizer } from '../../ts/tokenizer.js';
import { modelDir } from '../tasks/goldens.js';

test('strftime_now formats as Python does in the C locale', (t) => {
  const d = new Date(2026, 10, 3, 7, 5, 9); // Tuesday 3 November 2026, 07:05:09 local time
  t.is(strftimeNow('%d %b %Y', d), '03 Nov 2026');
  t.is(strftimeNow('%A, %B %e, %y', d), 'Tuesday, November  3, 26');
  t.is(strftimeNow('%a %H:%M:%S %I %p %j %m %%', d), 'Tue 07:05:09 07 AM 307 11 %');
  t.is(strftimeNow('%Q stays', d), '%Q stays');
});

/** A ChatTemplate on the llama-tiny tokenizer with `source` as its template. */
function template(source: string): ChatTemplate {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-chat-'));
  writeFileSync(path.join(dir, 'chat_template.jinja'), source);
  const tok = Tokenizer.fromFile(modelDir('llama-tiny'));
  return ChatTemplate.fromModelDir(dir, tok) as ChatTemplate;
}

test('tools and documents are None, as transformers passes them', (t) => {
  const tpl = template(
    '{% if tools is none %}no tools{% endif %} {% if documents is none %}no documents{% endif %} {{ messages[0].content }}',
  );
  t.is(
    tpl.render([{ role: 'user', content: 'hi' }], {
      addGenerationPrompt: false,
      continueFinalMessage: false,
    }),
    'no tools no documents hi',
  );
});

test('a continued final message ends where the tag marks it, spacing as the template leaves it', (t) => {
  const keep = template('{% for m in messages %}<{{ m.role }}>{{ m.content }}</end>{% endfor %}');
  const trim = template('{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</end>{% endfor %}');
  const chat = (content: string) => [
    { role: 'user', content: 'q' },
    { role: 'assistant', content },
  ];
  const opts = { addGenerationPrompt: false, continueFinalMessage: true };
  t.is(keep.render(chat('end'), opts), '<user>q</end><assistant>end');
  t.is(keep.render(chat(''), opts), '<user>q</end><assistant>');
  t.is(keep.render(chat('  two spaces  '), opts), '<user>q</end><assistant>  two spaces  ');
  t.is(trim.render(chat('  two spaces  '), opts), '<user>q</end><assistant>two spaces');
  const drops = template(
    '{% for m in messages %}{% if m.role == "user" %}{{ m.content }}{% endif %}{% endfor %}',
  );
  t.throws(() => drops.render(chat('gone'), opts), { message: /final message does not appear/ });
});
