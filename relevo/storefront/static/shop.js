/* The demo storefront's own behaviour: its cart (a cookie the server reads), the fake checkout
 * and the paywall's tracking. Relevo's snippet (/relevo.js, loaded before this) tracks views and
 * cart adds by itself and fills the placements. */
(function () {
  'use strict';
  const COOKIE = 'rlv_demo_cart';

  function readCart() {
    const found = document.cookie.match(new RegExp('(?:^|; )' + COOKIE + '=([^;]*)'));
    try {
      const cart = found ? JSON.parse(decodeURIComponent(found[1])) : {};
      return cart && typeof cart === 'object' ? cart : {};
    } catch (e) {
      return {};
    }
  }

  function writeCart(cart) {
    document.cookie = COOKIE + '=' + encodeURIComponent(JSON.stringify(cart)) + '; Max-Age=2592000; Path=/; SameSite=Lax';
    const count = Object.keys(cart).reduce((n, id) => n + cart[id], 0);
    const badge = document.getElementById('cart-count');
    if (badge) badge.textContent = String(count);
  }

  function cartProducts() {
    try {
      return JSON.parse(document.body.getAttribute('data-relevo-cart') || '[]');
    } catch (e) {
      return [];
    }
  }

  document.addEventListener('click', (event) => {
    const target = event.target;
    if (!target.closest) return;
    const add = target.closest('[data-relevo-add-to-cart]');
    if (add) {
      const holder = add.closest('[data-relevo-product]');
      const id = add.getAttribute('data-relevo-add-to-cart') || (holder && holder.getAttribute('data-relevo-product'));
      if (!id) return;
      const cart = readCart();
      cart[id] = Math.min(99, (cart[id] || 0) + 1);
      writeCart(cart);
      const label = add.textContent;
      add.textContent = 'Added';
      add.classList.add('added');
      setTimeout(() => {
        add.textContent = label;
        add.classList.remove('added');
      }, 1200);
      return;
    }
    const remove = target.closest('[data-remove-from-cart]');
    if (remove) {
      const id = remove.getAttribute('data-remove-from-cart');
      const cart = readCart();
      delete cart[id];
      writeCart(cart);
      if (window.relevo) relevo.track('Product Removed', { product_id: id });
      setTimeout(() => location.reload(), 150);
      return;
    }
    if (target.id === 'place-order') placeOrder(target);
  });

  function placeOrder(button) {
    const products = cartProducts();
    const orderId = 'DEMO-' + Date.now().toString(36).toUpperCase();
    const revenue = products.reduce((sum, p) => sum + p.price * p.quantity, 0);
    button.disabled = true;
    relevo.track('Order Completed', { order_id: orderId, revenue: Math.round(revenue * 100) / 100, currency: 'GBP', products: products });
    relevo.flush();
    writeCart({});
    document.getElementById('checkout-form').hidden = true;
    document.getElementById('order-id').textContent = orderId;
    document.getElementById('order-placed').hidden = false;
  }

  // A paywalled article: publishers count these ("the 3rd paywall this week").
  const paywall = document.querySelector('[data-paywall]');
  if (paywall && window.relevo) relevo.track('Paywall Viewed', { article: paywall.getAttribute('data-paywall') });
})();
