// The classic Node cluster example (Node's `cluster` documentation): the primary
// forks one worker per CPU and every worker runs an http server on the same port.
// Node's default scheduling on Linux is round-robin: the primary accepts and
// hands each connection to a worker.
//
// Benchmark knobs (environment): PORT (default 18082), HOST (127.0.0.1),
// WORKERS (default availableParallelism()), KEEPALIVE_MS: server.keepAliveTimeout
// (Node's default of 5 s would close the idle connections of the 10k-idle
// workload; the benchmark sets it to 10 minutes).
'use strict';
const cluster = require('node:cluster');
const http = require('node:http');
const os = require('node:os');
const process = require('node:process');

const port = Number(process.env.PORT || 18082);
const host = process.env.HOST || '127.0.0.1';
const workers = Number(process.env.WORKERS || os.availableParallelism());

if (cluster.isPrimary) {
  console.log(`Primary ${process.pid} is running`);
  for (let i = 0; i < workers; i++) {
    cluster.fork();
  }
  cluster.on('exit', (worker, code, signal) => {
    console.log(`worker ${worker.process.pid} died (${signal || code})`);
  });
  // Stop the workers with us.
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      for (const id in cluster.workers) {
        cluster.workers[id].process.kill('SIGKILL');
      }
      process.exit(0);
    });
  }
} else {
  const server = http.createServer((req, res) => {
    // setHeader + end(body), not writeHead: with writeHead first, Node renders the
    // head before it knows the body and falls back to chunked encoding.
    res.setHeader('Content-Type', 'text/plain');
    res.end('hello word');
  });
  if (process.env.KEEPALIVE_MS) {
    server.keepAliveTimeout = Number(process.env.KEEPALIVE_MS);
    server.headersTimeout = server.keepAliveTimeout + 1000;
    server.requestTimeout = 0;
  }
  server.listen(port, host);
  console.log(`Worker ${process.pid} started`);
}
