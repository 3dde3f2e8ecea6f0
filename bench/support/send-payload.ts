// The one-recipient /v1/mail/send request of the accept benchmarks (bench:send:api, bench:submission).
export const PAYLOAD = JSON.stringify({
  personalizations: [{ to: [{ email: 'cliente@example.com', name: 'Cliente Ejemplo' }] }],
  from: { email: 'no-reply@tu-dominio.com', name: 'Tu Servicio' },
  subject: 'Confirma tu cuenta en Tu Servicio',
  content: [
    { type: 'text/html', value: '<p>Hola <strong>Cliente Ejemplo</strong>,</p><p>Haz clic <a href="https://tu-dominio.com/verify?token=abc123">aquí</a>.</p>' },
    { type: 'text/plain', value: 'Hola Cliente Ejemplo,\n\nVisita https://tu-dominio.com/verify?token=abc123 para confirmar tu cuenta.' },
  ],
});
