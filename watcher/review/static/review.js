// The review queue, driven by the keyboard. A key acts on the selected row at once (the page moves on),
// and its write is queued, so fast typing never applies a digit to the wrong row.
"use strict";

const token = document.querySelector('meta[name="digitwatch-token"]').content;
const rows = Array.from(document.querySelectorAll("tr.row"));
const leftCount = document.getElementById("left");
const message = document.getElementById("message");
const undoStack = []; // {row, previous}: what each correction replaced, newest last
let writes = Promise.resolve();
let current = Math.max(0, rows.findIndex((row) => !row.classList.contains("done")));

function select(index) {
  if (!rows.length) return;
  rows[current].classList.remove("selected");
  current = Math.min(Math.max(index, 0), rows.length - 1);
  rows[current].classList.add("selected");
  rows[current].scrollIntoView({ block: "nearest" });
}

function setLeft(change) {
  const left = Number(leftCount.dataset.left) + change;
  leftCount.dataset.left = String(left);
  leftCount.textContent = String(left);
}

function show(row, label) {
  const wasDone = row.classList.contains("done");
  row.querySelector(".label").textContent = label === null ? "" : label === "not_a_digit" ? "not a digit" : label;
  row.classList.toggle("done", label !== null);
  if (wasDone !== (label !== null)) setLeft(label === null ? 1 : -1);
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Digitwatch-Token": token },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.detail || answer.error || response.statusText);
  return answer;
}

function write(path, body, onFailure) {
  writes = writes
    .then(() => post(path, body))
    .then(() => { message.textContent = ""; })
    .catch((error) => { onFailure(); message.textContent = "Not saved: " + error.message; });
}

function correct(label) {
  const row = rows[current];
  if (!row) return;
  if (label === "") { message.textContent = "The model gave no digit here: type the digit, or x."; return; }
  const previous = row.dataset.label || null;
  show(row, label);
  row.dataset.label = label;
  undoStack.push({ row, previous });
  const body = { filename: row.dataset.filename, page: row.dataset.page ? Number(row.dataset.page) : null,
                 sha256: row.dataset.sha256, label };
  write("/api/corrections", body, () => { show(row, previous); row.dataset.label = previous || ""; undoStack.pop(); });
  const next = rows.findIndex((candidate, index) => index > current && !candidate.classList.contains("done"));
  select(next === -1 ? current + 1 : next);
}

function undo() {
  const last = undoStack.pop();
  if (!last) { message.textContent = "Nothing to undo."; return; }
  const undone = last.row.dataset.label;
  show(last.row, last.previous);
  last.row.dataset.label = last.previous || "";
  select(rows.indexOf(last.row));
  write("/api/undo", {}, () => { show(last.row, undone); last.row.dataset.label = undone; });
}

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select, textarea, button") || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key;
  if (/^[0-9]$/.test(key)) correct(key);
  else if (key === "Enter") correct(rows[current] ? rows[current].dataset.predicted : "");
  else if (key === "x" || key === "X") correct("not_a_digit");
  else if (key === "ArrowDown" || key === "j") select(current + 1);
  else if (key === "ArrowUp" || key === "k") select(current - 1);
  else if (key === "u") undo();
  else return;
  event.preventDefault();
});

rows.forEach((row, index) => row.addEventListener("click", () => select(index)));
select(current);
