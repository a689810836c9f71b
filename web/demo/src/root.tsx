// The React app, loaded by main.tsx once the document has started opening.
import { createRoot } from 'react-dom/client';
import { App } from './app';
import './styles.css';

createRoot(document.getElementById('root')!).render(<App />);
