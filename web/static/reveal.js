/* 查看明文 (admin/secured.py, reveal_button): a masked value's button POSTs its record, column and CSRF
 * token to the view's reveal endpoint and shows the clear value it answers in place of the masked one.
 * The page never holds the clear value before the click; each reveal is audited on the server. */
(function () {
  'use strict';
  function reveal(button) {
    var cell = button.parentNode;
    var shown = cell.querySelector('[data-reveal-value]');
    var message = cell.querySelector('[data-reveal-message]');
    var body = new FormData();
    body.append('csrf_token', button.getAttribute('data-reveal-token'));
    body.append('id', button.getAttribute('data-reveal-id'));
    body.append('column', button.getAttribute('data-reveal-column'));
    button.disabled = true;
    fetch(button.getAttribute('data-reveal-url'), {method: 'POST', body: body, credentials: 'same-origin',
                                                   cache: 'no-store'})
      .then(function (response) {
        return response.json().catch(function () { return {error: '查看失败（' + response.status + '），请刷新页面后重试'}; })
          .then(function (data) { return {ok: response.ok, data: data}; });
      })
      .then(function (result) {
        if (result.ok) {
          shown.textContent = result.data.value;
          shown.classList.add('font-weight-bold');
          button.remove();
          message.textContent = '已显示明文（本次查看已记入审计日志）';
          message.classList.add('text-muted');
        } else {
          button.disabled = false;
          message.textContent = result.data.error || '查看失败，请刷新页面后重试';
          message.classList.add('text-danger');
        }
      })
      .catch(function () {
        button.disabled = false;
        message.textContent = '网络错误，请稍后重试';
        message.classList.add('text-danger');
      });
  }
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button[data-reveal-url]');
    if (button) {
      event.preventDefault();
      reveal(button);
    }
  });
}());
