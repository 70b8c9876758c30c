// Served as text/javascript; charset=utf-8.
"use strict";
document.getElementById("status").textContent =
  "JavaScript ran: app.js was served by preforkd at " + new Date().toISOString() + ".";
