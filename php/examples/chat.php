<?php

/**
 * chat.php - a small real-time chat room: one web page and one WebSocket route
 * (the same protocol and page as c-examples/chat.c).
 *
 *   GET /      the chat page (HTML and JavaScript, inline below)
 *   WS  /chat  the room
 *
 * Every frame the server sends is a JSON text message:
 *   {"type":"welcome","id":7,"clients":3}          to a newcomer: its id and the head count
 *   {"type":"join","id":7,"clients":3}             to everyone else when a client arrives
 *   {"type":"leave","id":7,"clients":2}            to everyone left when a client goes
 *   {"type":"message","from":7,"text":"hi"}        a chat line, to everyone, the sender included
 *   {"type":"tick","clients":2,"time":1700000000}  every second (time: Unix seconds)
 *
 * A client sends plain text frames; binary frames are refused with close code 1003.
 *
 * Usage: php php/examples/chat.php [PORT [ADDRESS]]   PORT 8080 by default (0 = any free port).
 * Ctrl+C (SIGINT) or SIGTERM shuts down gracefully: clients receive Close 1001.
 */

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use HttpSock\Http\Response;
use HttpSock\HttpServer;

const JSON = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE;

$port = (int) ($argv[1] ?? 8080);
$address = $argv[2] ?? '127.0.0.1';

$server = new HttpServer($address, $port);
$server->websocket(true);
$server->setLimit(HttpServer::LIMIT_WS_MAX_MESSAGE, 16 * 1024);

$page = <<<'HTML'
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>httpsock chat</title>
<style>
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.4 system-ui, sans-serif; background: #f4f5f7;
         display: flex; flex-direction: column; height: 100vh; }
  header { padding: .6em 1em; background: #1f2937; color: #fff; display: flex;
           gap: 1em; align-items: baseline; }
  header h1 { font-size: 1.1em; margin: 0; flex: 1; }
  #status.off { color: #f87171; }
  #log { flex: 1; overflow-y: auto; margin: 0; padding: 1em; list-style: none; }
  #log li { margin: .25em 0; }
  #log .who { font-weight: 600; margin-right: .4em; }
  #log .me .who { color: #2563eb; }
  #log .event { color: #6b7280; font-style: italic; }
  form { display: flex; gap: .5em; padding: .75em 1em; background: #fff;
         border-top: 1px solid #ddd; }
  input { flex: 1; padding: .5em; font: inherit; }
  button { padding: .5em 1.2em; font: inherit; }
</style>
</head>
<body>
<header>
  <h1>httpsock chat</h1>
  <span id="status" class="off">connecting...</span>
  <span id="count"></span>
  <span id="clock"></span>
</header>
<ul id="log"></ul>
<form id="form" autocomplete="off">
  <input id="text" placeholder="Say something" maxlength="2000" autofocus>
  <button>Send</button>
</form>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
let ws = null, me = null, retry = 500;

function add(cls, who, text) {
  const li = document.createElement('li');
  li.className = cls;
  if (who) {
    const b = document.createElement('span');
    b.className = 'who';
    b.textContent = who;
    li.appendChild(b);
  }
  li.appendChild(document.createTextNode(text));
  const log = $('log');
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 5;
  log.appendChild(li);
  if (atEnd) log.scrollTop = log.scrollHeight;
}

function setCount(n) { $('count').textContent = n + (n === 1 ? ' person' : ' people'); }

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  ws = new WebSocket(scheme + location.host + '/chat');
  ws.onopen = () => { retry = 500; };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    switch (m.type) {
    case 'welcome':
      me = m.id;
      $('status').textContent = 'you are #' + me;
      $('status').className = '';
      setCount(m.clients);
      add('event', '', 'You joined as #' + me + '.');
      break;
    case 'join': setCount(m.clients); add('event', '', '#' + m.id + ' joined.'); break;
    case 'leave': setCount(m.clients); add('event', '', '#' + m.id + ' left.'); break;
    case 'message':
      add(m.from === me ? 'me' : '', m.from === me ? 'you' : '#' + m.from, m.text);
      break;
    case 'tick':
      setCount(m.clients);
      $('clock').textContent = new Date(m.time * 1000).toLocaleTimeString();
      break;
    }
  };
  ws.onclose = (ev) => {
    $('status').textContent = 'disconnected (' + ev.code + '), retrying...';
    $('status').className = 'off';
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
}

$('form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value.trim();
  if (text && ws && ws.readyState === WebSocket.OPEN) {
    ws.send(text);
    $('text').value = '';
  }
});
connect();
</script>
</body>
</html>
HTML;

$server->get('/', fn () => new Response(
    200,
    ['Content-Type' => 'text/html; charset=utf-8', 'Cache-Control' => 'no-cache'],
    $page
));

// A newcomer: welcome it, tell the others. getClients() already includes it.
$server->onOpen(function (array $client) use ($server): void {
    $clients = count($server->getClients());
    $server->send($client['id'], json_encode(['type' => 'welcome', 'id' => $client['id'], 'clients' => $clients], JSON));
    $server->broadcast(json_encode(['type' => 'join', 'id' => $client['id'], 'clients' => $clients], JSON), $client['id']);
    fwrite(STDERR, "chat: #{$client['id']} joined from {$client['address']} ({$clients} in the room)\n");
});

// A chat line: to everyone else, and (the string returned) back to the sender.
$server->accept('/chat', function (string $message, array $payload) use ($server): ?string {
    if ($payload['binary']) {
        $server->close($payload['id'], 1003, 'text messages only');
        return null;
    }
    $json = json_encode(['type' => 'message', 'from' => $payload['id'], 'text' => $message], JSON);
    $server->broadcast($json, $payload['id']);
    return $json;
});

// Gone (no longer counted).
$server->onClose(function (array $client, int $code, string $reason) use ($server): void {
    $clients = count($server->getClients());
    $server->broadcast(json_encode(['type' => 'leave', 'id' => $client['id'], 'clients' => $clients], JSON), $client['id']);
    fwrite(STDERR, "chat: #{$client['id']} left with code {$code}" . ($reason !== '' ? ", {$reason}" : '') . " ({$clients} in the room)\n");
});

// Every second, on the event loop: the head count and the server's clock.
$server->every(1.0, function () use ($server): void {
    $server->broadcast(json_encode(['type' => 'tick', 'clients' => count($server->getClients()), 'time' => time()], JSON));
});

$bound = $server->getAddress();
echo "listening on http://{$bound['address']}:{$bound['port']}\n";
flush();

$server->run();
