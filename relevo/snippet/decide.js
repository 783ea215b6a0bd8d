/* Relevo website snippet: decisions. Served after relevo.js, which starts it at load (after the
 * page view) through relevo.use: it asks POST /v1/decide once for the page's placements, fills
 * them, arms the browser triggers, and reports impressions, clicks, dismissals and submits to
 * POST /v1/decide/events, and the engaged time as 'Page Engaged'. Under node it only exports its
 * pure parts (as .decide of the module: in the served file relevo.js's exports come first). */
(function (root, factory) {
  const lib = factory();
  if (typeof module === 'object' && module.exports) module.exports.decide = lib;
  else if (root && root.relevo && root.relevo.use) root.relevo.use('decide', lib.part);
})(typeof window !== 'undefined' ? window : this, function () {
  'use strict';
  const HIDE = '[data-relevo-placement]{visibility:hidden!important}';
  const ACTIVITY = ['mousemove', 'keydown', 'scroll', 'touchstart', 'click'];
  // The shop's stylesheets come later in the page, so its rules win at the same specificity.
  const CSS = '.relevo-label{display:inline-block;font:11px/1.7 sans-serif;padding:0 6px;border-radius:8px;background:#eef0f6;color:#334}.relevo-recs{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px}.relevo-card{display:flex;flex-direction:column;gap:4px;color:inherit;text-decoration:none}.relevo-image{aspect-ratio:1;background:#f3f3f3}.relevo-image img{width:100%;height:100%;object-fit:cover}.relevo-price s{opacity:.6;margin-right:6px}.relevo-backdrop{position:fixed;inset:0;background:#0008;display:flex;align-items:center;justify-content:center;z-index:2147483000}.relevo-modal{position:relative;box-sizing:border-box;background:#fff;color:#111;width:min(92vw,480px);max-height:90vh;overflow:auto;padding:24px;border-radius:8px}.relevo-close{position:absolute;top:4px;right:8px;border:0;background:none;font-size:24px;cursor:pointer}.relevo-form,.relevo-choices{display:flex;flex-wrap:wrap;gap:8px;align-items:center}.relevo-form input[type=email]{flex:1 1 12em;padding:6px}.relevo-consent{flex-basis:100%}';

  // -- pure parts ---------------------------------------------------------------------------

  // The page's placement ids, then those of relevo.load's options, each once.
  function placementIds(found, given) {
    return found.concat(given || []).filter((id, i, all) => id && all.indexOf(id) === i);
  }

  // The body of POST /v1/decide. env: writeKey, anonymousId, identityToken, linkToken, page ({url, path,
  // referrer}), userAgent, timezone, campaign, product, cart (products), placements.
  function decideBody(env) {
    const context = { page: { url: env.page.url, path: env.page.path, referrer: env.page.referrer }, userAgent: env.userAgent };
    ['timezone', 'campaign', 'product'].forEach((key) => env[key] && (context[key] = env[key]));
    if (env.cart && env.cart.length) context.cart = { products: env.cart };
    const body = { writeKey: env.writeKey, anonymousId: env.anonymousId, channel: 'web', context: context, placements: env.placements };
    if (env.identityToken) body.identityToken = env.identityToken;
    if (env.linkToken) body.linkToken = env.linkToken;
    return body;
  }

  // The cart of a data-relevo-cart attribute: a JSON list of products, or {products: [...]}.
  function cartFrom(text) {
    try {
      const cart = JSON.parse(text);
      return Array.isArray(cart) ? cart : (cart && cart.products) || null;
    } catch (e) {
      return null;
    }
  }

  // How far down the page the bottom of the viewport is, in percent.
  function scrollPercent(top, viewport, height) {
    return height <= viewport ? 100 : Math.min(100, ((top + viewport) / height) * 100);
  }

  // Exit intent on a touch screen: a fast scroll up, 150 px within 300 ms of the lowest point.
  class ScrollUp {
    at(y, now) {
      const low = this.low;
      if (!low || y >= low.y || now - low.t > 300) this.low = { y: y, t: now };
      else return low.y - y >= 150;
      return false;
    }
  }

  // Engaged seconds: each second the page is visible and had some activity in the last `idle` s.
  class Engagement {
    constructor(now, idle) {
      this.idle = idle * 1000;
      this.last = now;
      this.seconds = this.sent = 0;
    }
    active(now) {
      this.last = now;
    }
    tick(now, visible) {
      if (visible && now - this.last < this.idle) this.seconds++;
    }
    // The seconds not reported yet, as the properties of a 'Page Engaged' (or null: none).
    take() {
      const seconds = this.seconds - this.sent;
      this.sent = this.seconds;
      return seconds ? { seconds: seconds, minutes: Math.round(seconds / 6) / 10 } : null;
    }
  }

  // What a product card shows: the price now, and the one it replaces when on sale (the
  // catalog's cards carry prices as decimal strings).
  function priceOf(product) {
    const price = parseFloat(product.price);
    const sale = parseFloat(product.sale_price);
    return sale < price ? { now: sale, was: price } : { now: price };
  }

  // Only http(s) links from the catalog (a javascript: URL would run in the shop's page).
  function safeUrl(url, base) {
    try {
      return /^https?:$/.test(new URL(url, base).protocol) ? url : null;
    } catch (e) {
      return null;
    }
  }

  // One question at a time; the answers by question id.
  class Quiz {
    constructor(questions) {
      this.questions = questions || [];
      this.index = 0;
      this.answers = {};
    }
    question() {
      return this.questions[this.index] || null;
    }
    answer(value) {
      this.answers[this.question().id] = value;
      this.index++;
      return this.question();
    }
  }

  // -- browser parts ------------------------------------------------------------------------

  // Started by relevo.js at load: client has w, options, host, transport, identity.
  function part(client, lib) {
    const w = client.w;
    const doc = w.document;
    const options = client.options;
    const started = Date.now();
    const url = (path) => client.host + path;
    const feedback = new lib.Transport(w, new lib.Queue(null), client.transport.writeKey, url('/v1/decide/events'));
    feedback.body = (items) => JSON.stringify({ writeKey: feedback.writeKey, anonymousId: client.anonymousId(), events: items.map((item) => item.event) });
    const reported = {};
    // One of each kind per decision: the server takes no second one (its token and type).
    const report = (d, type, properties) => {
      if (!d.token || reported[d.token + type]) return;
      reported[d.token + type] = 1;
      feedback.enqueue({ messageId: lib.uuid4(), event: { token: d.token, type: type, properties: properties } });
    };
    const post = (path, body) =>
      w.fetch(url(path), { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'text/plain' }, credentials: 'omit' }).then((r) => (r.ok ? r.json() : null));
    const style = (text, first) => {
      const el = doc.createElement('style');
      el.textContent = text;
      const head = doc.head || doc.documentElement;
      head.insertBefore(el, first ? head.firstChild : null);
      return el;
    };
    const h = (tag, attributes, ...children) => {
      const el = doc.createElement(tag);
      Object.keys(attributes).forEach((key) => attributes[key] !== null && attributes[key] !== undefined && el.setAttribute(key, attributes[key]));
      el.append(...children);
      return el;
    };
    const on = (target, type, handler) => target.addEventListener(type, handler, { passive: true, capture: true });

    // Engaged time, sent when the page is hidden or left, with what is queued.
    const engagement = new Engagement(started, options.engagedIdle || 10);
    ACTIVITY.forEach((type) => on(doc, type, () => engagement.active(Date.now())));
    setInterval(() => engagement.tick(Date.now(), doc.visibilityState === 'visible'), 1000);
    const leave = () => {
      const engaged = options.engaged !== false && engagement.take();
      if (engaged) client.track('Page Engaged', engaged);
      feedback.beacon();
      client.transport.beacon();
    };
    w.addEventListener('pagehide', leave);
    doc.addEventListener('visibilitychange', () => doc.visibilityState === 'hidden' && leave());

    // Only the placements about to be filled are hidden, and for at most decideTimeout ms.
    const hidden = style(HIDE);
    let pending = true;
    const reveal = () => {
      pending = false;
      hidden.remove();
    };
    setTimeout(reveal, options.decideTimeout === undefined ? 500 : options.decideTimeout);

    const ready = (f) => (doc.readyState === 'loading' ? doc.addEventListener('DOMContentLoaded', f) : f());
    ready(() => {
      const slots = {};
      doc.querySelectorAll('[data-relevo-placement]').forEach((el) => (slots[el.getAttribute('data-relevo-placement')] = slots[el.getAttribute('data-relevo-placement')] || el));
      const placements = placementIds(Object.keys(slots), options.placements);
      if (!placements.length) return reveal();
      const productEl = doc.querySelector('[data-relevo-product]');
      const cartEl = doc.querySelector('[data-relevo-cart]');
      const body = decideBody({
        writeKey: client.transport.writeKey,
        anonymousId: client.anonymousId(),
        identityToken: client.identityToken,
        linkToken: client.pageLinkToken,
        page: lib.pageFacts(w.location, doc),
        userAgent: w.navigator.userAgent,
        timezone: w.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone,
        campaign: lib.campaignFrom(w.location.search),
        product: productEl && lib.productFromAttributes((a) => productEl.getAttribute(a), productEl.getAttribute('data-relevo-product')),
        cart: client.cartProducts || (cartEl && cartFrom(cartEl.getAttribute('data-relevo-cart'))),
        placements: placements,
      });
      post('/v1/decide', body).then(
        (answer) => {
          // Too late: the defaults are showing, and stay.
          if (pending && answer) Object.keys(answer.placements || {}).forEach((id) => decided(answer.placements[id], slots[id]));
          reveal();
        },
        reveal,
      );
    });

    function decided(d, slot) {
      if (!d || d.source === 'empty') return;
      const show = () => (d.mode === 'overlay' ? overlay(d) : fill(d, slot));
      if (d.trigger && arm(d.trigger, show)) return;
      show();
    }

    let styled = false;
    // The decision's block: label, server-rendered HTML (or its content), then the products or
    // the interactive part.
    function block(d) {
      if (!styled) styled = style(CSS, true);
      const box = h('div', { class: 'relevo-slot relevo-' + (d.kind || 'block') });
      const content = d.content || {};
      if (d.label) box.append(h('span', { class: 'relevo-label' }, d.label));
      if (d.html) box.insertAdjacentHTML('beforeend', d.html);
      else {
        if (content.headline) box.append(h('h2', {}, content.headline));
        if (content.text) box.append(h('p', {}, content.text));
        if (content.cta && safeUrl(content.href || '', w.location.href)) box.append(h('a', { class: 'relevo-cta', href: content.href }, content.cta));
      }
      const interactive = d.interactive;
      if (interactive) box.append(form(d, interactive));
      // A template may list the products itself.
      else if (d.recommendations && !box.querySelector('[data-relevo-product]')) box.append(cards(d.recommendations));
      return box;
    }

    function cards(recommendations) {
      const items = (recommendations && recommendations.items) || [];
      return h(
        'div',
        { class: 'relevo-recs' },
        ...items.map((item) => {
            const p = item.product || {};
            const price = priceOf(p);
            const money = (n) => {
              if (isNaN(n)) return '';
              try {
                return p.currency ? n.toLocaleString(doc.documentElement.lang || undefined, { style: 'currency', currency: p.currency }) : n.toFixed(2);
              } catch (e) {
                return n.toFixed(2) + ' ' + p.currency; // a currency this browser does not know
              }
            };
            return h(
              'a',
              { class: 'relevo-card', href: safeUrl(p.url || '', w.location.href), 'data-relevo-product': item.product_id },
              h('span', { class: 'relevo-image' }, p.image_url ? h('img', { src: p.image_url, alt: '', loading: 'lazy' }) : ''),
              h('span', { class: 'relevo-title' }, p.title || ''),
              h('span', { class: 'relevo-price' }, price.was ? h('s', {}, money(price.was)) : '', money(price.now)),
            );
          }),
      );
    }

    // E-mail capture, self-selection or a quiz; answered through POST /v1/decide/events (submit).
    function form(d, i) {
      const thanks = (el) => el.replaceWith(h('p', { class: 'relevo-thanks' }, i.thanks || 'Thank you!'));
      const submit = (properties) => report(d, 'submit', properties);
      if (i.kind === 'email_capture') {
        const email = h('input', { type: 'email', name: 'email', required: '', placeholder: 'E-mail', 'aria-label': 'E-mail' });
        const consent = h('input', { type: 'checkbox', name: 'consent' });
        const el = h('form', { class: 'relevo-form' }, i.prompt ? h('p', {}, i.prompt) : '', email, h('button', { type: 'submit' }, i.button || 'Sign up'), h('label', { class: 'relevo-consent' }, consent, ' ', i.consent_text || 'Yes, send me the ' + (i.consent || 'newsletter')));
        el.addEventListener('submit', (e) => {
          e.preventDefault();
          // The server keeps the address as a claim, with the consent: no identify call here.
          submit({ email: email.value, consent: consent.checked });
          thanks(el);
        });
        return el;
      }
      const el = h('div', { class: 'relevo-choices' });
      const ask = (text, answers, chosen) => {
        el.replaceChildren(text ? h('p', { class: 'relevo-question' }, text) : '');
        (answers || []).forEach((a) => {
          const button = h('button', { type: 'button', value: a.value }, a.label || a.value);
          button.onclick = () => {
            chosen(a.value);
          };
          el.append(button);
        });
      };
      if (i.kind === 'quiz') {
        const quiz = new Quiz(i.questions);
        const next = (q) =>
          q
            ? ask(q.text, q.answers, (value) => next(quiz.answer(value)))
            : post('/v1/decide/events', { writeKey: feedback.writeKey, anonymousId: client.anonymousId(), events: [{ token: d.token, type: 'submit', properties: { answers: quiz.answers } }] }).then(
                (answer) => (answer && answer.recommendations ? el.replaceWith(cards(answer.recommendations)) : thanks(el)),
                () => thanks(el),
              );
        next(quiz.question());
      } else {
        ask(i.prompt, i.options, (value) => {
          submit({ value: value });
          thanks(el);
        });
      }
      return el;
    }

    // Into the placement's element (or the decision's selector), as its mode says.
    function fill(d, slot) {
      try {
        slot = slot || (d.selector && doc.querySelector(d.selector));
      } catch (e) {
        slot = null; // not a selector this browser knows
      }
      if (!slot) return;
      const box = block(d);
      const mode = d.mode || 'replace';
      if (mode === 'replace') slot.replaceChildren(box);
      else slot[{ append: 'append', prepend: 'prepend', before: 'before', after: 'after' }[mode] || 'append'](box);
      watch(d, box);
    }

    function overlay(d) {
      const close = h('button', { type: 'button', class: 'relevo-close', 'aria-label': 'Close' }, '\u00d7');
      const modal = h('div', { class: 'relevo-modal', role: 'dialog', 'aria-modal': 'true', 'aria-label': (d.content && d.content.headline) || d.label || 'Offer' }, close, block(d));
      const back = h('div', { class: 'relevo-backdrop' }, modal);
      const before = doc.activeElement;
      const keys = (e) => {
        if (e.key === 'Escape') shut();
        if (e.key !== 'Tab') return;
        // Focus stays in the dialog while it is open.
        const all = modal.querySelectorAll('a[href],button,input,select,textarea');
        const edge = all[e.shiftKey ? 0 : all.length - 1];
        if (doc.activeElement === edge || !modal.contains(doc.activeElement)) {
          e.preventDefault();
          all[e.shiftKey ? all.length - 1 : 0].focus();
        }
      };
      const shut = () => {
        back.remove();
        doc.removeEventListener('keydown', keys, true);
        report(d, 'dismiss');
        if (before && before.focus) before.focus();
      };
      close.onclick = shut;
      // (An onclick that returns false cancels the click: a checkbox in the dialog would not tick.)
      back.onclick = (e) => {
        if (e.target === back) shut();
      };
      doc.addEventListener('keydown', keys, true);
      doc.body.append(back);
      (modal.querySelector('input,.relevo-slot button,.relevo-slot a[href]') || close).focus();
      watch(d, modal);
    }

    // An impression once at least half of it was in the viewport for a second; clicks on its
    // links and buttons (the products' ids with them).
    function watch(d, el) {
      if (w.IntersectionObserver) {
        let timer;
        const seen = new w.IntersectionObserver(
          (entries) => {
            const entry = entries[entries.length - 1];
            clearTimeout(timer);
            // Half of it, or half the viewport for a block taller than two viewports.
            if (entry.intersectionRatio >= 0.5 || entry.intersectionRect.height * 2 >= (entry.rootBounds || {}).height)
              timer = setTimeout(() => {
                // Not for an overlay closed within the second.
                if (!el.isConnected) return;
                seen.disconnect();
                report(d, 'impression');
              }, 1000);
          },
          { threshold: [0, 0.25, 0.5] },
        );
        seen.observe(el);
      }
      el.addEventListener('click', (e) => {
        const target = e.target.closest('a[href],button');
        // Not the forms' own buttons (a quiz's answer is gone from the page when it gets here).
        if (!target || !el.contains(target) || target.closest('.relevo-close,.relevo-form,.relevo-choices')) return;
        const product = target.closest('[data-relevo-product]');
        report(d, 'click', product ? { product_id: product.getAttribute('data-relevo-product') } : { href: target.href || undefined });
      });
    }

    // A browser trigger: show() when it fires, once. False for a trigger this snippet does not know.
    function arm(t, show) {
      let armed = true;
      const fire = () => armed && !(armed = false) && show();
      const when = (target, type, test) => on(target, type, (e) => test(e) && fire());
      const seconds = (t.seconds || 0) * 1000;
      if (t.type === 'exit_intent') {
        when(doc, 'mouseout', (e) => !e.relatedTarget && e.clientY <= 0);
        if (w.matchMedia && w.matchMedia('(pointer: coarse)').matches) {
          const up = new ScrollUp();
          when(w, 'scroll', () => up.at(w.scrollY, Date.now()));
          // The back gesture: it first takes the visitor to this entry, on the same page.
          w.history.pushState(w.history.state, '');
          when(w, 'popstate', () => true);
        }
      } else if (t.type === 'scroll_depth') {
        const deep = () => scrollPercent(w.scrollY, w.innerHeight, doc.documentElement.scrollHeight) >= (t.percent || 0);
        when(w, 'scroll', deep);
        if (deep()) fire();
      } else if (t.type === 'time_on_page') {
        setTimeout(fire, seconds - (Date.now() - started));
      } else if (t.type === 'inactivity') {
        let timer;
        const again = () => {
          clearTimeout(timer);
          timer = setTimeout(fire, seconds);
        };
        ACTIVITY.forEach((type) => on(doc, type, again));
        again();
      } else if (t.type === 'add_to_cart') {
        when(doc, 'click', (e) => e.target.closest && e.target.closest('[data-relevo-add-to-cart]'));
      } else return false;
      return true;
    }
  }

  return { placementIds, decideBody, cartFrom, scrollPercent, ScrollUp, Engagement, priceOf, safeUrl, Quiz, part };
});
