// The dashboard: the devices from the JSON API, kept current by the event
// stream; switches flip through the API.
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
      button.addEventListener("click", () => toggle(device.id));
      item.append(device.id + " ", button);
    } else {
      item.textContent = device.id + " " + device.celsius.toFixed(1) + " °C";
    }
    list.append(item);
  }
}

async function api(path, options) {
  const response = await fetch("/api" + path, options);
  if (!response.ok) throw new Error(path + ": " + response.status);
  return response.json();
}

async function toggle(id) {
  const change = await api("/devices/" + id + "/toggle", { method: "POST" });
  Object.assign(devices.get(id), change);
  render();
}

function listen() {
  const stream = new EventSource("/events");
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
  for (const device of await api("/devices")) devices.set(device.id, device);
  render();
  listen();
}

start().catch((error) => {
  document.body.prepend(Object.assign(document.createElement("p"), {
    className: "error", textContent: String(error),
  }));
});
