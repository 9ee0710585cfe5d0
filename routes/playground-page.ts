// The playground at GET /: plain HTML and one small script, no build step and nothing loaded from
// elsewhere, so it works offline and behind any proxy. The script avoids template literals so it
// can live in these strings as is.

/** The page; `demoToken` (from `npm run demo`) is offered with a button when given. */
export function playgroundHtml(demoToken: string | undefined): string {
  const demo = demoToken
    ? `<button type="button" id="use-demo" data-token="${demoToken.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)}">Use the demo token</button>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>step-gateway playground</title>
<style>
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}
code,pre{background:#f4f4f4;border-radius:4px}pre{padding:.8rem;overflow:auto}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}input,select,textarea{width:100%;box-sizing:border-box;font:inherit;padding:.4rem}
button{font:inherit;padding:.4rem 1rem;margin:.6rem .4rem 0 0}#answer,#reasoning{white-space:pre-wrap;border:1px solid #ddd;border-radius:4px;padding:.6rem;min-height:2rem}
#reasoning{color:#666;font-size:.9em}#status{color:#666}.error{color:#b00020}
</style></head>
<body>
<h1>step-gateway</h1>
<p>An OpenAI-compatible API for StepChat (StepFun's chat assistant). Point any OpenAI client at
<code>&lt;this address&gt;/v1</code> with your StepChat token, <code>deviceId@Oasis-Token</code>, as the API key
(or one of the operator's API keys). API reference: <a href="docs">/docs</a> (OpenAPI: <a href="openapi.json">/openapi.json</a>).</p>
<h2>Try it</h2>
<form id="chat">
<label for="token">Token</label><input id="token" autocomplete="off" placeholder="deviceId@Oasis-Token">${demo}
<label for="model">Model</label><select id="model"><option>step</option></select>
<label><input type="checkbox" id="search" style="width:auto"> web search</label>
<label for="prompt">Message</label><textarea id="prompt" rows="3">Hello!</textarea>
<button type="submit" id="send">Send</button><button type="button" id="stop" disabled>Stop</button> <span id="status"></span>
</form>
<h3>Reasoning</h3><div id="reasoning"></div>
<h3>Answer</h3><div id="answer"></div>
<h3>Sources</h3><ol id="sources"></ol>
<h2>From a script</h2>
<pre>curl -N $BASE/v1/chat/completions \\
  -H "Authorization: Bearer DEVICE_ID@OASIS_TOKEN" -H "Content-Type: application/json" \\
  -d '{"model":"step","messages":[{"role":"user","content":"Hello"}],"stream":true}'</pre>
<p>Endpoints: <code>POST /v1/chat/completions</code>, <code>GET /v1/models</code>, <code>POST /token/check</code>,
<code>GET /ping</code>, <code>GET /healthz</code>, <code>GET /readyz</code>, <code>GET /metrics</code>.</p>
<script src="playground.js"></script>
</body></html>
`;
}

/** The page's script: lists models, sends the message, renders the SSE answer as it streams. */
export const PLAYGROUND_JS = String.raw`'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var controller = null;
  var demo = $('use-demo');
  if (demo) demo.onclick = function () { $('token').value = demo.dataset.token; loadModels(); };
  $('token').addEventListener('change', loadModels);

  function headers() {
    return { 'content-type': 'application/json', authorization: 'Bearer ' + $('token').value.trim() };
  }

  function loadModels() {
    fetch('v1/models', { headers: headers() }).then(function (r) { return r.json(); }).then(function (list) {
      var select = $('model');
      var keep = select.value;
      select.textContent = '';
      (list.data || []).forEach(function (m) {
        var o = document.createElement('option');
        o.textContent = m.id;
        select.appendChild(o);
      });
      if (keep) select.value = keep;
      if (!select.value && select.options.length) select.selectedIndex = 0;
    }).catch(function () {});
  }

  // Splits the numbered "Sources:" list the service appends to a searched answer.
  function render(content) {
    var at = content.lastIndexOf('\n\nSources:\n');
    $('answer').textContent = at < 0 ? content : content.slice(0, at);
    var list = $('sources');
    list.textContent = '';
    if (at < 0) return;
    content.slice(at + 11).split('\n').forEach(function (line) {
      var m = /^\[\d+\]\s*(.*?)\s*[\u2013-]\s*(https?:\S+)$/.exec(line.trim());
      if (!m) return;
      var li = document.createElement('li');
      var a = document.createElement('a');
      a.href = m[2]; a.textContent = m[1] || m[2]; a.rel = 'noreferrer'; a.target = '_blank';
      li.appendChild(a);
      list.appendChild(li);
    });
  }

  function status(text, error) {
    $('status').textContent = text;
    $('status').className = error ? 'error' : '';
  }

  $('stop').onclick = function () { if (controller) controller.abort(); };

  $('chat').onsubmit = function (event) {
    event.preventDefault();
    var content = '';
    var reasoning = '';
    render('');
    $('reasoning').textContent = '';
    controller = new AbortController();
    $('send').disabled = true; $('stop').disabled = false;
    status('waiting for the first token...');
    var body = { model: $('model').value, stream: true, use_search: $('search').checked, messages: [{ role: 'user', content: $('prompt').value }] };
    fetch('v1/chat/completions', { method: 'POST', headers: headers(), body: JSON.stringify(body), signal: controller.signal })
      .then(function (res) {
        if (!res.ok) return res.json().then(function (e) { throw new Error(res.status + ': ' + ((e.error && e.error.message) || res.statusText)); });
        var reader = res.body.getReader();
        var decoder = new TextDecoder();
        var carry = '';
        status('streaming...');
        function pump() {
          return reader.read().then(function (step) {
            if (step.done) return;
            carry += decoder.decode(step.value, { stream: true });
            var lines = carry.split('\n');
            carry = lines.pop();
            for (var i = 0; i < lines.length; i++) {
              var line = lines[i];
              if (line.indexOf('data: ') !== 0 || line === 'data: [DONE]') continue;
              var chunk = JSON.parse(line.slice(6));
              if (chunk.error) throw new Error(chunk.error.message);
              var delta = (chunk.choices && chunk.choices[0] && chunk.choices[0].delta) || {};
              if (delta.reasoning_content) { reasoning += delta.reasoning_content; $('reasoning').textContent = reasoning; }
              if (delta.content) { content += delta.content; render(content); }
            }
            return pump();
          });
        }
        return pump();
      })
      .then(function () { status('done'); }, function (err) { status(err.name === 'AbortError' ? 'stopped' : String(err.message || err), err.name !== 'AbortError'); })
      .then(function () { $('send').disabled = false; $('stop').disabled = true; controller = null; });
  };
})();
`;
