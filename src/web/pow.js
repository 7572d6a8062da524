/* Gazette's proof of work (docs/web.md, "Bots"): finds a number N such
   that SHA-256 of TOKEN + ":" + N starts with __BITS__ zero bits, for the
   token in a form's "token" field, puts it in the form's "pow" field, and
   holds the form's submission until it is found. The server checks it
   with one hash. Forms opt in with the attribute data-gazette-pow; the
   embeddable form calls gazettePow(form) once it has fetched a token. */
(function () {
  "use strict";
  var BITS = __BITS__;
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];
  var IV = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
    0x1f83d9ab, 0x5be0cd19
  ];
  var W = new Int32Array(64);

  function rotr(x, n) {
    return (x >>> n) | (x << (32 - n));
  }

  // One SHA-256 compression of the 16 words M into the state H.
  function compress(H, M) {
    var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    var i, x, y, t1, t2;
    for (i = 0; i < 16; i++) W[i] = M[i];
    for (i = 16; i < 64; i++) {
      x = W[i - 15];
      y = W[i - 2];
      W[i] = (W[i - 16] + (rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3)) + W[i - 7] +
        (rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10))) | 0;
    }
    for (i = 0; i < 64; i++) {
      t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
    H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
  }

  function leadingZeros(H) {
    var n = 0, i, z;
    for (i = 0; i < 8; i++) {
      z = Math.clz32(H[i]);
      n += z;
      if (z < 32) break;
    }
    return n;
  }

  function words(bytes, at, M) {
    for (var j = 0; j < 16; j++) {
      var o = at + j * 4;
      M[j] = (bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3];
    }
  }

  // Find the number for `token` a slice of time at a time (the page stays
  // responsive), then call done with it. The number is written with ten
  // digits, counted up in place: the message's length and padding never
  // change, and the blocks before its last are hashed once.
  function solve(token, done) {
    var msg = token + ":0000000000", len = msg.length, i, j;
    var blocks = Math.ceil((len + 9) / 64), bytes = new Uint8Array(blocks * 64);
    for (i = 0; i < len; i++) bytes[i] = msg.charCodeAt(i) & 255;
    bytes[len] = 0x80;
    var bits = len * 8, L = bytes.length;
    bytes[L - 4] = bits >>> 24; bytes[L - 3] = (bits >>> 16) & 255;
    bytes[L - 2] = (bits >>> 8) & 255; bytes[L - 1] = bits & 255;
    // The first digit's block: the blocks before it are the same each time.
    var first = Math.floor((len - 10) / 64) * 64;
    var mid = new Int32Array(IV), M = new Int32Array(16), H = new Int32Array(8);
    for (i = 0; i < first; i += 64) {
      words(bytes, i, M);
      compress(mid, M);
    }
    (function slice() {
      var end = Date.now() + 25, k, b;
      do {
        for (k = 0; k < 4096; k++) {
          H.set(mid);
          for (b = first; b < L; b += 64) {
            words(bytes, b, M);
            compress(H, M);
          }
          if (leadingZeros(H) >= BITS) {
            done(String.fromCharCode.apply(null, bytes.subarray(len - 10, len)));
            return;
          }
          for (j = len - 1; bytes[j] === 57; j--) bytes[j] = 48;
          bytes[j]++;
        }
      } while (Date.now() < end);
      setTimeout(slice, 0);
    })();
  }

  function arm(form) {
    var t = form.elements.token, p = form.elements.pow;
    if (!t || !p || !t.value || form.getAttribute("data-pow-for") === t.value) return;
    var token = t.value;
    form.setAttribute("data-pow-for", token);
    p.value = "";
    solve(token, function (n) {
      if (t.value !== token) return;
      p.value = n;
      if (form.getAttribute("data-pow-submit")) {
        form.removeAttribute("data-pow-submit");
        HTMLFormElement.prototype.submit.call(form);
      }
    });
  }

  // A submission before the work is done waits for it.
  function held(ev) {
    var form = ev.target, p = form.elements.pow;
    if (p && !p.value) {
      ev.preventDefault();
      form.setAttribute("data-pow-submit", "1");
      arm(form);
    }
  }

  function watch(form) {
    if (form.getAttribute("data-pow-watched")) return;
    form.setAttribute("data-pow-watched", "1");
    form.addEventListener("submit", held);
  }

  window.gazettePow = function (form) {
    watch(form);
    arm(form);
  };

  function start() {
    var forms = document.querySelectorAll("form[data-gazette-pow]");
    for (var i = 0; i < forms.length; i++) window.gazettePow(forms[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
