// The dashboard: the devices from the JSON API, kept current by the event
// stream; switches flip through the URL the API built for them. Every URL
// here is relative or built by the server, so the page works under a
// proxy's prefix too.
"use strict";

const devices = new Map();

function render() {
  const list = document.getElementById("devices");
  list.replaceChildren();
  for (const device of devices.values()) {
    const item = document.createElement("li");
    item.id = "device-" + device.id;
    if (device.kind === "switch") {
      const button = document.createElement("button");
      button.textContent = device.on ? "on" : "off";
      button.className = device.on ? "on" : "off";
      button.addEventListener("click", () => toggle(device));
      item.append(device.id + " ", button);
    } else {
      item.textContent = device.id + " " + device.celsius.toFixed(1) + " °C";
    }
    list.append(item);
  }
}

async function fetchJson(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

function api(path) {
  return fetchJson("api" + path);
}

async function toggle(device) {
  const change = await fetchJson(device.toggle, { method: "POST" });
  Object.assign(devices.get(device.id), change);
  render();
}

function listen() {
  const stream = new EventSource("events");
  const state = document.getElementById("stream-state");
  const count = document.getElementById("event-count");
  const log = document.getElementById("events");
  stream.onopen = () => { state.textContent = "live"; };
  stream.onerror = () => { state.textContent = "reconnecting"; };
  stream.addEventListener("device", (event) => {
    const change = JSON.parse(event.data);
    const device = devices.get(change.id);
    if (device) Object.assign(device, change);
    render();
    count.textContent = String(Number(count.textContent) + 1);
    const line = document.createElement("li");
    line.textContent = event.data;
    log.prepend(line);
    while (log.children.length > 10) log.lastChild.remove();
  });
}

async function start() {
  const me = await api("/me");
  document.getElementById("user").textContent = me.user;
  document.getElementById("visits").textContent = me.visits;
  document.getElementById("api-url").textContent = me.api;
  for (const device of await api("/devices")) devices.set(device.id, device);
  render();
  listen();
}

start().catch((error) => {
  document.body.prepend(Object.assign(document.createElement("p"), {
    className: "error", textContent: String(error),
  }));
});
